"""``--format text``: one ``path:line:col: CODE message`` line per finding, like ruff."""

from __future__ import annotations

from scanners.output import Report, summary_lines


def render(report: Report) -> str:
    lines = [
        f"{f.path}:{f.line}:{f.column}: {f.rule} {f.message}" + (" [*]" if f.fixable else "")
        for f in report.findings
    ]
    return "\n".join([*lines, *summary_lines(report)]) + "\n"
