"""The timeouts gate of one pytest run: the settings, the parts below, and their order.

Each concern is a module of its own (see the package's docstring). The gate is the run's
shared state (:class:`~.run.TimeoutRun`, which each part is handed) with its parts, and
registers each part as a plugin only where it has work: a passing run without xdist pays
for the timer hook and nothing else per test.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING

import pytest

from pytest_gridgate.timeouts.budget import BudgetAfterEachTest, SessionBudget
from pytest_gridgate.timeouts.collection_clock import CollectionClock
from pytest_gridgate.timeouts.defaults import Defaults, timeout_plugin
from pytest_gridgate.timeouts.run import TimeoutRun
from pytest_gridgate.timeouts.stage_one import StageOne
from pytest_gridgate.timeouts.stage_two import StageTwo
from pytest_gridgate.timeouts.verdict import TimeoutVerdict

if TYPE_CHECKING:
    from pytest_gridgate.timeouts.crashes import CrashRecords

GATE_KEY = pytest.StashKey["TimeoutGate"]()


class TimeoutGate(TimeoutRun):
    """The timeouts gate of one pytest run (registered as ``gridgate-timeouts``)."""

    def __init__(self, config: pytest.Config) -> None:
        # The watchdog calls stage two, which is built on the run: bound late.
        super().__init__(config, lambda armed: self.stage_two.expired(armed))
        self.crashes: CrashRecords | None = None  # the xdist controller
        self.defaults = Defaults(self)
        self.stage_two = StageTwo(self)
        self.stage_one = StageOne(self)
        self.collection = CollectionClock(self)
        self.verdict = TimeoutVerdict(self)

    def start(self) -> None:
        """At ``pytest_load_initial_conftests``: the collection clock starts."""
        register = self.config.pluginmanager.register
        register(self.collection, "gridgate-collection-clock")
        register(self.verdict, "gridgate-timeouts-verdict")
        self.collection.start()

    @pytest.hookimpl(trylast=True)  # after pytest-timeout has read its own settings
    def pytest_configure(self, config: pytest.Config) -> None:
        # Duplicates of the terminal's descriptors, taken while output capture is suspended:
        # stage two writes through them when the test's capture owns fd 1 and 2.
        self.stdout_fd, self.stderr_fd = os.dup(1), os.dup(2)
        register = config.pluginmanager.register
        started = time.time()
        role = ""
        workerinput = getattr(config, "workerinput", None)
        if workerinput is not None:
            from pytest_gridgate.timeouts.crashes import worker_record  # xdist only

            role = "worker"
            started = SessionBudget.started_on_controller(workerinput, started)
            self.worker_record = worker_record(config, workerinput)
        elif config.pluginmanager.has_plugin("dsession"):
            from pytest_gridgate.timeouts.crashes import CrashRecords  # xdist only

            role = "controller"
            self.controller = True
            self.crashes = CrashRecords(config)
            register(self.crashes, "gridgate-crash-records")
            self.reports.register()  # any worker's report may carry a timeout
        if self.settings.session:
            self.budget = SessionBudget(self.settings.session, started, role)
            register(self.budget, "gridgate-session-budget")

        timer = timeout_plugin(config) is not None  # else (-p no:timeout) no per-test timeouts
        if timer:
            self.defaults.feed_pytest_timeout(config)
            register(self.defaults, "gridgate-timeout-defaults")
            register(self.stage_one, "gridgate-stage-one")
        if self.budget is not None and not (timer and self.defaults.every_test_has_a_timer()):
            # Else the timer's cancel call checks the budget (timeout(0) markers aside).
            register(BudgetAfterEachTest(self.budget), "gridgate-budget")
        self.stage_two.start_supervisor(config)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.collection.stop()
        self.stage_one.restore_alarm_handler()
        self.watchdog.stop()
        for fd in (self.stdout_fd, self.stderr_fd):
            if fd >= 0:
                # A test may have closed them already (os.closerange): nothing to release.
                with contextlib.suppress(OSError):
                    os.close(fd)
        if self.crashes is not None:
            self.crashes.remove()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        if self.budget is not None:
            self.budget.session = session
        # The SIGALRM handler goes in before the first test, not during it: the leaks gate
        # compares each test's signal handlers before and after.
        if session.items and timeout_plugin(self.config) is not None:
            self.stage_one.install_alarm_handler()
        supervisor = self.watchdog.supervisor
        if supervisor is None or not session.items:
            return
        nodeids = [item.nodeid for item in session.items]
        self.stage_one.index = {nodeid: i for i, nodeid in enumerate(nodeids)}
        supervisor.set_nodeids(nodeids)
        self.snapshot()
