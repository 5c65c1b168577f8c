"""``timeouts.session``: stop starting tests once the run's budget is spent.

Checked after each test by the timer's cancel call when every test has a timer (no extra
hook), else by :class:`BudgetAfterEachTest`. Under xdist the budget runs from the
controller's start: each worker stops itself, and the controller counts what was not run.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

import pytest

# Handed to xdist workers: when the run's session budget started.
_SESSION_START = "_gridgate_session_started"


class SessionBudget:
    """Registered as ``gridgate-session-budget`` when ``timeouts.session`` is set."""

    def __init__(self, seconds: float, started: float, role: str) -> None:
        self.seconds = seconds
        self.started = started
        self.deadline = started + seconds
        # Under xdist each worker stops itself (the budget runs from the controller's
        # start) and the controller only counts what was not run.
        self.worker = role == "worker"
        self.controller = role == "controller"
        self.stopped_with: int | None = None
        self.session: pytest.Session | None = None

    @staticmethod
    def started_on_controller(workerinput: dict[str, Any], default: float) -> float:
        """On an xdist worker: when the controller's budget started."""
        started: float = workerinput.get(_SESSION_START, default)
        return started

    def expired(self) -> bool:
        if self.controller:
            return time.time() >= self.deadline
        return self.stopped_with is not None

    def check(self, nodeid: str) -> None:
        if time.time() < self.deadline or self.controller or self.stopped_with is not None:
            return
        session = self.session
        if session is None:
            return
        done = next((i for i, it in enumerate(session.items) if it.nodeid == nodeid), -1) + 1
        self.stopped_with = len(session.items) - done
        spent = f"gridgate: session budget of {self.seconds:g}s (timeouts.session) spent"
        if self.worker:  # its items are every test, not its share: the controller counts
            session.shouldfail = f"{spent}; this worker stops"
        else:
            plural = "s" if self.stopped_with != 1 else ""
            session.shouldfail = f"{spent}; {self.stopped_with} test{plural} not run"

    def not_run(self, config: pytest.Config) -> int:
        if not self.worker and not self.controller and self.stopped_with is not None:
            return self.stopped_with
        # The xdist controller: tests collected minus tests that reported.
        terminal = config.pluginmanager.get_plugin("terminalreporter")
        if terminal is None or self.session is None:
            return 0
        ran = {
            getattr(r, "nodeid", None)
            for reports in terminal.stats.values()
            for r in reports
            if isinstance(r, pytest.TestReport)
        }
        return max(self.session.testscollected - len(ran), 0)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[_SESSION_START] = self.started

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None]:
        # Under xdist a worker that spent the budget stops, and the controller calls that an
        # interruption (exit 2); it is a failed run, like without xdist.
        if self.controller and self.expired() and session.exitstatus == pytest.ExitCode.INTERRUPTED:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return (yield)


class BudgetAfterEachTest:
    """Checks the session budget after each test when tests may run without a timer."""

    def __init__(self, budget: SessionBudget) -> None:
        self.budget = budget

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self.budget.check(nodeid)
