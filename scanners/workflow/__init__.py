"""GitHub workflow rules GW001-GW006: the patterns that make a CI gate lie.

Interface used by the engine::

    check_workflow(path: str, source: bytes, settings: ScanSettings,
                   selected: Callable[[str], bool]) -> list[Finding]

raises :class:`scanners.finding.ParseFailure` for invalid YAML (reported as GW000).
Line numbers are the YAML's own; inside a ``run:`` block they are the line of the offending
command, so a ``# gridgate: ignore[GW001] reason`` comment on that line or the one above
suppresses it (the engine applies suppressions). :data:`RULES` maps codes to rule classes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from scanners.finding import Finding
from scanners.workflow.document import read_workflow
from scanners.workflow.rules import RULES, WorkflowRule

if TYPE_CHECKING:
    from pytest_gridgate.settings import ScanSettings

__all__ = ["RULES", "WorkflowRule", "check_workflow"]


def check_workflow(
    path: str, source: bytes, settings: ScanSettings, selected: Callable[[str], bool]
) -> list[Finding]:
    workflow = read_workflow(path, source)
    lines = workflow.source.splitlines()
    findings: set[Finding] = set()
    for code, rule in RULES.items():
        if not selected(code):
            continue
        for hit in rule().check(workflow):
            line = hit.line
            text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
            findings.add(
                Finding(
                    path, line, hit.column, code, rule.name, hit.message, hit.severity, source=text
                )
            )
    return sorted(findings)
