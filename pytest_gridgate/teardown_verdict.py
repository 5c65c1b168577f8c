"""A test's findings on its teardown report: the way a gate fails one test after the fact.

The leaks and memory gates judge a test once its teardown is over, then put what they
found on the teardown report (so that it reaches the xdist controller and the gate report)
and, in ``fail`` mode, turn that report into an error naming the problem. One
:class:`TeardownVerdict` does it for one test, through the session's one
:class:`_PendingVerdicts` plugin: registered only while tests have findings, since a hook
looking at every report would cost every test three calls, and kept registered from one
test with findings to the next, since registering a plugin with pytest and unregistering
it costs more than the rest of a verdict (pexpect's suite: a leak in 245 of 257 tests).
"""

from __future__ import annotations

import warnings
from collections.abc import Generator
from typing import Any

import pytest

from pytest_gridgate.report import attach

__all__ = ["TeardownVerdict", "warn_on_item"]


class TeardownVerdict:
    """``findings``: ``(section, entry)`` pairs to attach; ``text``: the error (``fail``)
    or the report section ``gridgate <gate>`` (a teardown that failed anyway)."""

    def __init__(
        self,
        config: pytest.Config,
        item: pytest.Item,
        gate: str,
        findings: list[tuple[str, dict[str, Any]]],
        text: str,
        *,
        fail: bool,
    ) -> None:
        self.config, self.item, self.gate = config, item, gate
        self.findings, self.text, self.fail = findings, text, fail
        pending = config.stash.get(_PENDING_KEY, None)
        if pending is None:
            pending = config.stash[_PENDING_KEY] = _PendingVerdicts(config)
        pending.add(self)

    def apply(self, report: pytest.TestReport) -> None:
        """On the test's teardown report, before anyone (terminal, junitxml, the xdist
        worker sending it to the controller, the gate report) reads it."""
        for section, entry in self.findings:
            attach(report, section, entry)
        if self.fail and report.passed:
            report.outcome = "failed"
            report.longrepr = self.text
        elif self.fail:
            report.sections.append((f"gridgate {self.gate}", self.text))


class _PendingVerdicts:
    """The verdicts waiting for their test's teardown report, in the order they were made
    (a test's leaks verdict, then its memory verdict: the first to fail it gives the error,
    the next one a report section). Registered with the first verdict, unregistered at the
    teardown report of a test without one."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.by_item: dict[pytest.Item, list[TeardownVerdict]] = {}
        self.registered = False

    def add(self, verdict: TeardownVerdict) -> None:
        self.by_item.setdefault(verdict.item, []).append(verdict)
        if not self.registered:
            self.config.pluginmanager.register(self, "gridgate-teardown-verdicts")
            self.registered = True

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.when == "teardown":
            verdicts = self.by_item.pop(item, None)
            if verdicts is not None:
                for verdict in verdicts:
                    verdict.apply(report)
            elif not self.by_item:
                self.config.pluginmanager.unregister(self)
                self.registered = False
        return report


_PENDING_KEY = pytest.StashKey[_PendingVerdicts]()


def warn_on_item(item: pytest.Item, warning: Warning) -> None:
    """Record ``warning`` for ``item`` as pytest's summary shows it, at the test's line.

    Recorded straight through the hook, so that a project's ``-W error`` cannot turn
    gridgate's own warning into an exception inside pytest's reporting machinery.
    """
    path, lineno, _ = item.location
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn_explicit(warning, type(warning), path, (lineno or 0) + 1)
    for message in caught:
        item.ihook.pytest_warning_recorded.call_historic(
            kwargs={
                "warning_message": message,
                "when": "runtest",
                "nodeid": item.nodeid,
                "location": None,
            }
        )
