"""The gate report: one verdict per gate, written to the terminal, JSON and Markdown.

Gates record what they find in two ways, both of which reach the xdist controller:

* per-test findings are attached to the test's ``TestReport`` with :func:`attach`; the
  attribute is serialised with the report, so a worker's findings arrive on the controller;
* run-level findings go straight into the :class:`GateReport` (``get_report(config)``), or
  into it from a ``pytest_gridgate_report`` hook implementation at the end of the run.

Only the controller (or the single process without xdist) writes the report.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# Report attribute carrying per-test findings as [section, entry] pairs (JSON-serialisable).
_ATTR = "gridgate_findings"
_REPORT_KEY = pytest.StashKey["GateReport"]()

SECTIONS = ("collection_errors", "timeouts", "leaks")


def attach(
    report: pytest.TestReport | pytest.CollectReport, section: str, entry: dict[str, Any]
) -> None:
    """Attach a finding to a test or collect report; it travels to the xdist controller."""
    findings: list[list[Any]] = report.__dict__.setdefault(_ATTR, [])
    findings.append([section, entry])


def attached(
    report: pytest.TestReport | pytest.CollectReport,
) -> Iterator[tuple[str, dict[str, Any]]]:
    for section, entry in report.__dict__.get(_ATTR, ()):
        yield str(section), entry


@dataclass
class GateVerdict:
    """One gate's verdict: a name, pass or fail, and a one-line summary."""

    gate: str
    passed: bool
    summary: str
    details: list[str] = field(default_factory=list)


@dataclass
class GateReport:
    """Everything the gates found in one run (JSON report version 1)."""

    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("collected", "passed", "failed", "errors", "skipped"), 0
        )
    )
    sections: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {name: [] for name in SECTIONS}
    )
    env: dict[str, list[str]] = field(default_factory=lambda: {"applied": [], "kept": []})
    verdicts: list[GateVerdict] = field(default_factory=list)
    exit_code: int = 0

    def add(self, section: str, entry: dict[str, Any]) -> None:
        self.sections.setdefault(section, []).append(entry)

    def add_section(self, name: str, data: list[dict[str, Any]]) -> None:
        self.sections.setdefault(name, []).extend(data)

    def add_verdict(
        self, gate: str, passed: bool, summary: str, details: list[str] | None = None
    ) -> None:
        self.verdicts.append(GateVerdict(gate, passed, summary, details or []))

    @property
    def outcome(self) -> str:
        return "passed" if self.exit_code == 0 else "failed"

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "counts": dict(self.counts),
            **self.sections,
            "env": self.env,
            "gates": [
                {"gate": v.gate, "passed": v.passed, "summary": v.summary} for v in self.verdicts
            ],
        }

    def terminal_lines(self) -> list[str]:
        lines = []
        for v in self.verdicts:
            lines.append(f"{'PASS' if v.passed else 'FAIL'} {v.gate}: {v.summary}")
            lines.extend(f"    {d}" for d in v.details)
        return lines

    def to_markdown(self) -> str:
        rows = [
            f"| {v.gate} | {'✅ pass' if v.passed else '❌ fail'} | {v.summary} |"
            for v in self.verdicts
        ]
        return "\n".join(
            [
                f"## gridgate: {self.outcome}",
                "",
                "| gate | verdict | summary |",
                "|---|---|---|",
                *rows,
                "",
            ]
        )


def get_report(config: pytest.Config) -> GateReport:
    """The run's gate report (created on first use)."""
    try:
        return config.stash[_REPORT_KEY]
    except KeyError:
        report = config.stash[_REPORT_KEY] = GateReport()
        return report


def write_json(report: GateReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
