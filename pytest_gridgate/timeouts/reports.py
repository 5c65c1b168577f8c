"""The ``timeouts`` report section and the marks on timed-out tests' reports.

A stage-one timeout is attached to its test's report (so that under xdist it reaches the
controller with it); the progress output shows it as ``T`` / ``TIMEOUT``, still counted
as a failure.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_gridgate import report as gate_report
from pytest_gridgate.timeout_report import explain_timeout

#: The report section (a top-level list of the JSON report) and the verdict's gate name.
SECTION = "timeouts"


class TimedOutReports:
    """Marks the reports of timed-out tests; registered only once a test timed out here
    (or on the xdist controller), so that passing tests pay for none of its hooks."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.fired: dict[str, dict[str, Any]] = {}  # stage one, waiting for the test's report
        self.registered = False

    def register(self) -> None:
        if not self.registered:
            self.registered = True
            self.config.pluginmanager.register(self, "gridgate-timed-out-reports")

    def expect(self, entry: dict[str, Any]) -> None:
        """Stage one fired in ``entry["nodeid"]``: its failed report gets ``entry``."""
        self.fired[entry["nodeid"]] = entry
        self.register()

    @pytest.hookimpl(tryfirst=True)  # before xdist serialises the report for the controller
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # pytest-rerunfailures logs a failed attempt it will run again as outcome "rerun":
        # that attempt timed out all the same, and its entry belongs to its report.
        outcome: str = report.outcome  # "rerun" is not among pytest's own outcomes
        if not self.fired or not (report.failed or outcome == "rerun"):
            return
        entry = self.fired.pop(report.nodeid, None)
        if entry is None:
            return
        entry["phase"] = report.when
        gate_report.attach(report, SECTION, entry)
        report.sections.append(("gridgate timeout", explain_timeout(entry)))

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(
        self, report: pytest.TestReport | pytest.CollectReport
    ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
        # A timeout is its own verdict in the progress output, still counted as a failure.
        if report.failed and any(s == SECTION for s, _ in gate_report.attached(report)):
            # Setup, teardown and collection stay errors, as pytest counts them; xdist's
            # report for a lost worker says when="???": that test failed.
            category = "failed" if report.when in ("call", "???") else "error"
            return category, "T", ("TIMEOUT", {"red": True})
        return None
