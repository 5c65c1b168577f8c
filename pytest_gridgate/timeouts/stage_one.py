"""Stage one: pytest-timeout's signal method, with a step in front.

pytest-timeout's ``pytest_timeout_set_timer`` hook is implemented here, first, and does
what pytest-timeout's own does, cheaper: the SIGALRM handler stays installed between tests
(installing one costs more than the rest of a timer), so the per-test work is two
``setitimer`` calls and arming the watchdog (stage two). When the alarm fires, the handler
notes where the test was stuck (and what an event loop was awaiting), kills the children
the test started, and fails the test as pytest-timeout's ``timeout_sigalrm`` does: the
test fails, the run goes on.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from types import FrameType
from typing import TYPE_CHECKING, Any

import pytest
import pytest_timeout  # type: ignore[import-untyped]

from pytest_gridgate import process_tree
from pytest_gridgate._compat import getsignal  # no enum conversion: once per test
from pytest_gridgate.frames import awaiting, where_stuck
from pytest_gridgate.timeouts.state import LONGEST

if TYPE_CHECKING:
    from pytest_gridgate.timeouts.run import TimeoutRun

HAVE_SIGALRM = hasattr(signal, "SIGALRM")  # not on Windows: no stage one there
_MAIN_THREAD = threading.main_thread().ident


class StageOne:
    """The per-test timer (registered as ``gridgate-stage-one`` where pytest-timeout is)."""

    def __init__(self, run: TimeoutRun) -> None:
        self.run = run
        self.root = run.root
        self.kill_after = run.settings.kill_after
        self.watchdog = run.watchdog
        self.reports = run.reports
        self.index: dict[str, int] = {}  # each test's line in the supervisor's nodeids
        self._alarm: tuple[pytest.Item, Any, float] | None = None  # the test it interrupts
        self._handler = self._on_alarm  # one bound method, compared by identity
        # One bound method for every item's cancel_timeout: a new one per item stayed on
        # each item for the whole run (watchdog's suite: 554 more objects for each of its
        # per-test full collections to traverse).
        self._cancel_timer = self._cancel
        self._handler_replaced: Any = None

    # optionalhook: with -p no:timeout the hook has no spec (and this is not registered).
    @pytest.hookimpl(tryfirst=True, optionalhook=True)
    def pytest_timeout_set_timer(self, item: pytest.Item, settings: Any) -> bool | None:
        seconds = float(settings.timeout)
        if not seconds <= LONGEST:  # a marker's inf or NaN, or 1e10: setitimer overflows
            seconds = LONGEST
        kill_after = self.kill_after
        started = process_tree.since_boot()
        nodeid = item.nodeid
        signal_method = settings.method == "signal" and threading.get_ident() == _MAIN_THREAD
        if kill_after:
            # Without the main thread's signals there is no stage one: stage two at once.
            after = seconds + kill_after if signal_method else seconds
            index = self.index.get(nodeid, -1)
            deadline = self.watchdog.arm(nodeid, seconds, after, index)
            run = self.run
            if deadline - run.snapshot_at > after + 1.0 and run.snapshot_due():
                run.snapshot()
        elif not signal_method:
            return None  # pytest-timeout's thread method: it dumps stacks and exits
        self._alarm = (item, settings, started)
        item.cancel_timeout = self._cancel_timer  # type: ignore[attr-defined]
        if signal_method:
            if getsignal(signal.SIGALRM) is not self._handler:
                self.install_alarm_handler()  # a test replaced it
            signal.setitimer(signal.ITIMER_REAL, seconds)
        return True

    def install_alarm_handler(self) -> None:
        if not HAVE_SIGALRM or threading.current_thread() is not threading.main_thread():
            return
        previous = signal.signal(signal.SIGALRM, self._handler)
        if self._handler_replaced is None:
            self._handler_replaced = previous

    def restore_alarm_handler(self) -> None:
        replaced = self._handler_replaced
        if replaced is not None and signal.getsignal(signal.SIGALRM) is self._handler:
            signal.signal(signal.SIGALRM, replaced)

    def _cancel(self) -> None:
        # pytest-timeout's cancel hook calls this (item.cancel_timeout) after teardown, and
        # when pdb starts: our hook needs no implementation of its own.
        if HAVE_SIGALRM:
            signal.setitimer(signal.ITIMER_REAL, 0)
        alarm, self._alarm = self._alarm, None
        self.watchdog.disarm()
        budget = self.run.budget
        if budget is not None and alarm is not None:
            budget.check(alarm[0].nodeid)

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        # pytest-timeout's timeout_sigalrm with one step in front: note where the test is
        # stuck and kill what it started.
        __tracebackhide__ = True
        if self._alarm is None:
            return  # a late alarm between tests
        item, settings, started = self._alarm
        if not settings.disable_debugger_detection and pytest_timeout.is_debugging():
            return
        self._stage_one(item, float(settings.timeout), frame, started)
        # As pytest-timeout's dump_stacks, minus the stacks of gridgate's own threads.
        _dump_other_threads(item.config)
        pytest.fail(pytest_timeout.PYTEST_FAILURE_MESSAGE % settings.timeout)

    def _stage_one(
        self, item: pytest.Item, seconds: float, frame: FrameType | None, started: float
    ) -> None:
        entry: dict[str, Any] = {"nodeid": item.nodeid, "seconds": seconds, "stage": 1}
        entry["where"] = where_stuck(frame, self.root)
        lines = awaiting(frame, self.root, own_thread=True)
        if lines:  # the loop's select() is no answer: name the line the test awaits
            entry["where"] = lines[0].split(" awaiting at ", 1)[1]
            entry["awaiting"] = lines
        # No orphans: what the test started dies with it, before teardown waits on it.
        supervisor = self.watchdog.supervisor
        spare = supervisor.pid if supervisor else None
        try:
            killed = process_tree.kill_tree(os.getpid(), since=started, spare=spare).killed
        except OSError:  # out of descriptors: the test still fails as timed out
            killed = []
        if killed:
            entry["killed"] = killed
        self.reports.expect(entry)


def _dump_other_threads(config: pytest.Config) -> None:
    current = threading.get_ident()
    names = {t.ident: t.name for t in threading.enumerate()}
    frames = [
        (ident, frame)
        for ident, frame in sys._current_frames().items()
        if ident != current and not names.get(ident, "").startswith("gridgate-")
    ]
    if not frames:
        return
    terminal = config.get_terminal_writer()
    terminal.sep("+", title="Timeout")
    for ident, frame in frames:
        terminal.sep("~", title=f"Stack of {names.get(ident, '<unknown>')} ({ident})")
        terminal.write("".join(traceback.format_stack(frame)))
    terminal.sep("+", title="Timeout")
