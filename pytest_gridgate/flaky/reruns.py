"""Running a test more than once, in the process that runs it: reruns and new-test repeats.

gridgate's own ``pytest_runtest_protocol`` (a plain implementation: pytest's default runs
every test it declines), registered only when ``flaky.reruns`` or ``flaky.new_test_runs``
is on. Each attempt is pytest's whole ``runtestprotocol`` (setup, call, teardown with the
test's fixtures, leak checks and memory measurement), with the test's per-test timeout
armed again. Nothing of an attempt is dropped:

* a failed attempt that is not the last is logged as one report with outcome ``rerun``
  (pytest's summary counts "N rerun", as with pytest-rerunfailures; the timeouts gate
  records a timed-out attempt on it), carrying whatever the other gates found in the
  attempt's other phases;
* the attempt that decides is logged as usual; every attempt (category, exception,
  message, seconds) goes into the test's ``flaky`` entry, attached to its last report.

Under xdist all of it happens in the worker that runs the test, so ``--dist load``,
``loadscope`` or any other mode work alike. A crashed worker is not rerun (see
docs/failures.md: there is no process left to run it in, and rescheduling a crashed test is
what breaks pytest-rerunfailures under ``--dist loadscope``).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from pytest_gridgate import categories
from pytest_gridgate._compat import forget_attempt, run_test_protocol
from pytest_gridgate.attempt_timer import arm_again
from pytest_gridgate.categories import FailureCategories
from pytest_gridgate.flaky.known import KnownTests
from pytest_gridgate.report import attach, attached
from pytest_gridgate.settings.flaky import FlakySettings

SECTION = "flaky"
NEW_SECTION = "new_tests"
_ATTR = "gridgate_findings"  # pytest_gridgate.report's attribute
ATTEMPT_ATTR = "gridgate_attempt"


class Attempt:
    __slots__ = ("entry", "failed", "reports", "seconds")

    def __init__(
        self,
        reports: list[pytest.TestReport],
        failed: pytest.TestReport | None,
        entry: dict[str, Any] | None,
        seconds: float,
    ) -> None:
        self.reports = reports
        self.failed = failed
        self.entry = entry
        self.seconds = seconds

    @property
    def skipped(self) -> bool:
        return self.failed is None and any(r.skipped for r in self.reports)

    def describe(self, number: int) -> dict[str, Any]:
        outcome = "failed" if self.failed else "skipped" if self.skipped else "passed"
        found: dict[str, Any] = {"attempt": number, "outcome": outcome}
        if self.entry is not None:
            found.update(
                (key, self.entry[key]) for key in ("when", "category", "exception", "message")
            )
        found["seconds"] = round(self.seconds, 6)
        return found


class Reruns:
    def __init__(
        self, settings: FlakySettings, known: KnownTests, failures: FailureCategories
    ) -> None:
        self.settings = settings
        self.known = known
        self.failures = failures
        self.rerun_categories = frozenset(settings.rerun_categories)
        # Seconds of new-test repeats this process may still spend (each xdist worker has
        # its own: the run's wall clock grows by at most the budget).
        self.budget = settings.new_test_budget or float("inf")

    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> bool | None:
        new = bool(self.settings.new_test_runs) and self.known.is_new(item.nodeid)
        if not new and not self.settings.reruns:
            return None
        quarantine = item.config.pluginmanager.get_plugin("gridgate-quarantine")
        if quarantine is not None and item.nodeid in quarantine.tests:
            return None  # known to be broken: its failure is tolerated, not run again
        limit = self.settings.new_test_runs if new else 1 + self.settings.reruns
        ihook = item.ihook
        ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        attempts: list[Attempt] = []
        stopped = ""
        while True:
            if attempts:
                forget_attempt(item)
                arm_again(item)
            started = time.monotonic()
            reports = run_test_protocol(item, nextitem)
            attempt = self._attempt(reports, time.monotonic() - started)
            attempts.append(attempt)
            if new and len(attempts) > 1:
                self.budget -= attempt.seconds
            if len(attempts) >= limit or attempt.skipped:
                break
            if item.session.shouldstop or item.session.shouldfail:
                break
            if new:
                if self.budget <= 0:
                    stopped = "new_test_budget spent"
                    break
                continue
            if attempt.entry is None or attempt.entry["category"] not in self.rerun_categories:
                break
        self._log(item, attempts, new, stopped)
        ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True

    def _attempt(self, reports: list[pytest.TestReport], seconds: float) -> Attempt:
        failed = None
        entry = None
        for report in reports:
            if report.failed and failed is None:
                failed = report
                entry = self.failures.entry(report)
            else:
                self.failures.take(report)  # what a passing or later phase left noted
        return Attempt(reports, failed, entry, seconds)

    def _log(self, item: pytest.Item, attempts: list[Attempt], new: bool, stopped: str) -> None:
        final = len(attempts) - 1
        if new:
            # A new test that passed at least once counts as passed (and flaky, if any
            # attempt failed); its last passing attempt is the one pytest's summary counts.
            passing = [i for i, a in enumerate(attempts) if a.failed is None]
            if passing:
                final = passing[-1]
        carried: list[list[Any]] = []
        hook = item.ihook
        for index, attempt in enumerate(attempts):
            if index == final:
                continue
            found = [f for r in attempt.reports for f in r.__dict__.pop(_ATTR, ())]
            if attempt.failed is None:
                carried += found  # a passing repeat's findings (a leak in warn mode)
                continue
            rerun = attempt.failed
            rerun.outcome = "rerun"  # type: ignore[assignment]
            rerun.__dict__[_ATTR] = found
            # Travels with the report (xdist copies a report's attributes) to the JUnit file.
            rerun.__dict__[ATTEMPT_ATTR] = attempt.entry
            hook.pytest_runtest_logreport(report=rerun)
        decided = attempts[final]
        if decided.failed is not None and decided.entry is not None:
            # Its exception was taken to decide on a rerun: the entry goes on as found.
            attach(decided.failed, categories.SECTION, decided.entry)
        reports = decided.reports
        last = reports[-1]
        for section, entry in carried:
            attach(last, section, entry)
        failed_any = any(a.failed is not None for a in attempts)
        record: dict[str, Any] = {
            "nodeid": item.nodeid,
            "outcome": "failed" if decided.failed else "flaky",
            "new": new,
            "runs": len(attempts),
            "attempts": [a.describe(i + 1) for i, a in enumerate(attempts)],
        }
        if stopped:
            record["stopped"] = stopped
        if failed_any and len(attempts) > 1:
            attach(last, SECTION, record)
        elif new:
            outcome = "skipped" if decided.skipped else "passed"
            attach(last, NEW_SECTION, _new_test(item.nodeid, len(attempts), outcome, stopped))
        for report in reports:
            hook.pytest_runtest_logreport(report=report)


def _new_test(nodeid: str, runs: int, outcome: str, stopped: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"nodeid": nodeid, "runs": runs, "outcome": outcome}
    if stopped:
        entry["stopped"] = stopped
    return entry


def flaky_entries(report: pytest.TestReport) -> list[dict[str, Any]]:
    return [entry for section, entry in attached(report) if section == SECTION]
