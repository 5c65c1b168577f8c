"""``timeouts.collection``: a clock from plugin start to the end of collection.

It starts at ``pytest_load_initial_conftests`` (so conftest imports are bounded too) with
SIGALRM, and arms the watchdog (stage two) for an import that ignores the signal. A module
that runs past it becomes a collection error naming the line it was stuck at; the rest of
collection gets a short slice each, so one slow module cannot spend the next one's time.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Generator
from types import FrameType
from typing import TYPE_CHECKING, Any

import pytest

from pytest_gridgate import report as gate_report
from pytest_gridgate.frames import collector_of, where_stuck
from pytest_gridgate.timeout_report import explain_timeout
from pytest_gridgate.timeouts.reports import SECTION
from pytest_gridgate.timeouts.state import COLLECTION_INDEX, clamp

if TYPE_CHECKING:
    from pytest_gridgate.timeouts.run import TimeoutRun

#: The nodeid the watchdog is armed with while collecting, and the ``phase`` of a
#: collection timeout in the report.
COLLECTION = "collection"
HAVE_SIGALRM = hasattr(signal, "SIGALRM")


class CollectionTimeout(Exception):
    """Raised in the importing frame when collection runs past ``timeouts.collection``."""


class CollectionClock:
    """Registered as ``gridgate-collection-clock`` from the gate's first hook on."""

    def __init__(self, run: TimeoutRun) -> None:
        self.run = run
        self.settings = run.settings
        self.fired = run.collection_fired  # waiting for their collector's report
        self._collecting = False
        self._old_alarm: Any = None
        self._old_timer: tuple[float, float] = (0.0, 0.0)
        self._started = 0.0

    def start(self) -> None:
        seconds = self.settings.collection
        if not seconds:
            return
        self._collecting = True
        if HAVE_SIGALRM and threading.current_thread() is threading.main_thread():
            self._old_alarm = signal.signal(signal.SIGALRM, self._alarm)
            self._old_timer = signal.setitimer(signal.ITIMER_REAL, clamp(seconds))
            self._started = time.monotonic()
        if self.settings.kill_after:
            after = seconds + self.settings.kill_after
            self.run.watchdog.arm(COLLECTION, seconds, after, COLLECTION_INDEX)

    def stop(self) -> None:
        if not self._collecting:
            return
        self._collecting = False
        if self._old_alarm is not None:
            # Put back an alarm that was pending before us (an outer pytest-timeout, when
            # this run is a pytester run inside another test).
            delay, interval = self._old_timer
            if delay:
                delay = max(delay - (time.monotonic() - self._started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, delay, interval)
            signal.signal(signal.SIGALRM, self._old_alarm)
            self._old_alarm = None
        self.run.watchdog.disarm()

    def _alarm(self, signum: int, frame: FrameType | None) -> None:
        __tracebackhide__ = True  # the traceback ends at the line that blocked
        seconds = self.settings.collection
        where = where_stuck(frame, self.run.root)
        nodeid = collector_of(frame, COLLECTION)
        self.fired[nodeid] = {
            "nodeid": nodeid,
            "seconds": seconds,
            "phase": COLLECTION,
            "stage": 1,
            "where": where,
        }
        self.run.reports.register()
        # The rest of collection gets a short slice each, so one slow module cannot spend
        # the next module's time; stage two still ends a collection that ignores signals.
        grace = max(self.settings.kill_after, 1.0)
        signal.setitimer(signal.ITIMER_REAL, clamp(grace))
        if self.settings.kill_after:
            after = grace + self.settings.kill_after
            self.run.watchdog.arm(COLLECTION, seconds, after, COLLECTION_INDEX)
        raise CollectionTimeout(
            f"gridgate: collection ran past timeouts.collection = {seconds:g}s; stuck at {where}"
        )

    @pytest.hookimpl(wrapper=True)
    def pytest_collection(self, session: pytest.Session) -> Generator[None, object, object]:
        if self._collecting:
            # What the supervisor writes if collection hangs in C code: the environment,
            # every gate's verdict so far.
            self.run.snapshot()
        try:
            return (yield)
        finally:
            self.stop()

    def pytest_collectstart(self, collector: pytest.Collector) -> None:
        supervisor = self.run.watchdog.supervisor
        if self._collecting and supervisor is not None:
            supervisor.collecting(collector.nodeid)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if self.fired and report.failed:
            entry = self.fired.pop(report.nodeid, None)
            if entry is not None:
                gate_report.attach(report, SECTION, entry)


def hung_collect_report(entry: dict[str, Any]) -> pytest.CollectReport:
    """The collection error of a module whose import hung until stage two ended the process
    (the report it never made), with its timeout attached."""
    where = entry.get("where") or "C code holding the GIL"
    message = (
        f"CollectionTimeout: gridgate: collection ran past timeouts.collection = "
        f"{entry['seconds']:g}s; stuck at {where}; the process was ended"
    )
    report = pytest.CollectReport(
        entry["nodeid"], "failed", f"{explain_timeout(entry)}\nE   {message}", []
    )
    gate_report.attach(report, SECTION, entry)
    return report
