"""Report formats. Each module renders one :class:`ScanReport` to a string."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import TextIO

from scanners.finding import Finding
from scanners.result import Hunk
from scanners.suppressions import Suppressed

FORMATS = ("text", "json", "sarif", "github")


@dataclass
class ScanReport:
    files_scanned: int
    findings: list[Finding]  # what fails the run, sorted
    suppressed: list[Suppressed] = field(default_factory=list)
    baselined: list[Finding] = field(default_factory=list)
    baseline_fixed: int = 0  # baselined findings that no longer occur
    fixed: int = 0  # findings removed by --fix
    fixed_files: int = 0
    fixes: dict[str, list[Hunk]] = field(default_factory=dict)  # path -> prepared fix
    sources: dict[str, bytes] = field(default_factory=dict)  # path -> content (for SARIF)
    notes: list[str] = field(default_factory=list)  # extra summary lines
    # SARIF: the git work tree (else the project root); URIs are relative to it.
    repository_root: str | None = None

    @property
    def fixable(self) -> int:
        return sum(1 for f in self.findings if f.fixable)


def summary_lines(report: ScanReport) -> list[str]:
    """The closing lines every human-facing format prints."""
    n = len(report.findings)
    files = f"{report.files_scanned} file{'s' if report.files_scanned != 1 else ''} scanned"
    if n:
        lines = [f"Found {n} finding{'s' if n != 1 else ''} ({files})."]
    else:
        lines = [f"All checks passed ({files})."]
    if report.fixable:
        lines.append(f"{report.fixable} fixable with --fix (preview with --diff).")
    if report.fixed:
        lines.append(f"Fixed {report.fixed} finding(s) in {report.fixed_files} file(s).")
    if report.suppressed:
        lines.append(f"{len(report.suppressed)} suppressed by `# gridgate: ignore[...]`.")
    if report.baselined:
        lines.append(f"{len(report.baselined)} known finding(s) accepted by the baseline.")
    if report.baseline_fixed:
        lines.append(
            f"{report.baseline_fixed} baselined finding(s) no longer occur (fixed); "
            "run with --update-baseline to shrink the baseline."
        )
    return lines + report.notes


@dataclass(frozen=True)
class Style:
    """How a human-facing report is shown; the machine formats ignore it.

    ``quiet``: 1 drops the summary lines, 2 prints nothing (the exit code says it all).
    ``colour``: ANSI colours in the text format (see :func:`use_colour`).
    """

    quiet: int = 0
    colour: bool = False


def use_colour(stream: TextIO) -> bool:
    """Colour on a terminal; ``NO_COLOR`` switches it off, ``FORCE_COLOR`` on (in that order
    of precedence, as pytest reads them; an empty value counts as unset, as no-color.org
    asks); ``TERM=dumb`` is no terminal for colours."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def render(format: str, report: ScanReport, style: Style | None = None) -> str:
    module = importlib.import_module(f"scanners.output.{format}_format")
    text: str = module.render(report, style or Style())
    return text
