"""The timeouts gate's verdict: tests that timed out, and a spent session budget; or, when
all is well, what applies to a test without a ``timeout`` marker, and from where."""

from __future__ import annotations

import pytest

from pytest_gridgate import _compat
from pytest_gridgate import report as gate_report
from pytest_gridgate.timeout_report import explain_timeout
from pytest_gridgate.timeouts.reports import SECTION
from pytest_gridgate.timeouts.run import TimeoutRun


class TimeoutVerdict:
    """The gate's line in the report (registered as ``gridgate-timeouts-verdict``)."""

    def __init__(self, run: TimeoutRun) -> None:
        self.run = run

    def pytest_gridgate_report(self, report: gate_report.GateReport, config: pytest.Config) -> None:
        run = self.run
        # Collection timeouts that never reached a collect report (a conftest import).
        for entry in run.collection_fired.values():
            report.add(SECTION, entry)
        timeouts = report.sections.get(SECTION, [])
        details = [f"TIMEOUT {explain_timeout(entry)}" for entry in timeouts]
        problems = []
        if timeouts:
            problems.append(f"{len(timeouts)} timed out")
        budget = run.budget
        if budget is not None and budget.expired():
            not_run = budget.not_run(config)
            problems.append(
                f"session budget of {run.settings.session:g}s (timeouts.session) spent; "
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
        run = self.run
        if run.config.pluginmanager.get_plugin("timeout") is None:
            parts = ["no per-test timeouts: pytest-timeout is not loaded"]
        else:
            seconds = _compat.default_timeout(run.config)
            if seconds:
                parts = [f"timeout {seconds:g}s from {run.applies}"]
            else:
                parts = [f"no per-test timeout ({run.applies} is 0)"]
        if run.settings.session:
            parts.append(f"session {run.settings.session:g}s")
        return "no test timed out (" + ", ".join(parts) + ")"
