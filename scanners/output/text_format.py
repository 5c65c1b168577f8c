"""``--format text``: one ``path:line:col: CODE message`` line per finding, like ruff.

On a terminal (see :func:`scanners.output.use_colour`) the parts are coloured as ruff colours
them: the path bold, the code red, ``[*]`` cyan, the verdict green or red.
"""

from __future__ import annotations

from scanners.finding import Finding
from scanners.output import ScanReport, Style, summary_lines

BOLD, RED, GREEN, CYAN, RESET = "\x1b[1m", "\x1b[31m", "\x1b[32m", "\x1b[36m", "\x1b[0m"


def _plain(f: Finding) -> str:
    return f"{f.path}:{f.line}:{f.column}: {f.rule} {f.message}" + (" [*]" if f.fixable else "")


def _coloured(f: Finding) -> str:
    fixable = f" {CYAN}[*]{RESET}" if f.fixable else ""
    return (
        f"{BOLD}{f.path}{RESET}:{f.line}:{f.column}: {BOLD}{RED}{f.rule}{RESET} "
        f"{f.message}{fixable}"
    )


def render(report: ScanReport, style: Style) -> str:
    if style.quiet >= 2:
        return ""
    line = _coloured if style.colour else _plain
    lines = [line(f) for f in report.findings]
    if not style.quiet:
        summary = summary_lines(report)
        if style.colour and summary:
            verdict = RED if report.findings else GREEN
            summary[0] = f"{BOLD}{verdict}{summary[0]}{RESET}"
        lines += summary
    return "\n".join(lines) + "\n" if lines else ""
