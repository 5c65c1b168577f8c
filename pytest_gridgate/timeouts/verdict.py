"""The ``timeouts`` report section, the marks on timed-out tests' reports, and the verdict.

A stage-one timeout is attached to its test's report (so that under xdist it reaches the
controller with it); the progress output shows it as ``T`` / ``TIMEOUT``, still counted
as a failure. At the end, the verdict: tests that timed out, and a spent session budget.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_gridgate import _compat
from pytest_gridgate import report as gate_report
from pytest_gridgate.report_format import explain_timeout

if TYPE_CHECKING:
    from pytest_gridgate.timeouts.gate import TimeoutGate

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


class TimeoutVerdict:
    """The gate's line in the report (registered as ``gridgate-timeouts-verdict``)."""

    def __init__(self, gate: TimeoutGate) -> None:
        self.gate = gate

    def pytest_gridgate_report(self, report: gate_report.GateReport, config: pytest.Config) -> None:
        gate = self.gate
        # Collection timeouts that never reached a collect report (a conftest import).
        for entry in gate.collection.fired.values():
            report.add(SECTION, entry)
        timeouts = report.sections.get(SECTION, [])
        details = [f"TIMEOUT {explain_timeout(entry)}" for entry in timeouts]
        problems = []
        if timeouts:
            problems.append(f"{len(timeouts)} timed out")
        budget = gate.budget
        if budget is not None and budget.expired():
            not_run = budget.not_run(config)
            problems.append(
                f"session budget of {gate.settings.session:g}s (timeouts.session) spent; "
                f"{not_run} test{'s' if not_run != 1 else ''} not run"
            )
            details.append(f"SESSION {problems[-1]}")
        if problems:
            report.add_verdict("timeouts", False, "; ".join(problems), details)
        else:
            report.add_verdict("timeouts", True, self.describe_settings())

    def describe_settings(self) -> str:
        """What applies to a test without a ``timeout`` marker, and where it comes from:
        pytest-timeout's own settings win over ``timeouts.default``."""
        gate = self.gate
        if gate.config.pluginmanager.get_plugin("timeout") is None:
            parts = ["no per-test timeouts: pytest-timeout is not loaded"]
        else:
            seconds = _compat.default_timeout(gate.config)
            if seconds:
                parts = [f"timeout {seconds:g}s from {gate.defaults.applies}"]
            else:
                parts = [f"no per-test timeout ({gate.defaults.applies} is 0)"]
        if gate.settings.session:
            parts.append(f"session {gate.settings.session:g}s")
        return "no test timed out (" + ", ".join(parts) + ")"
