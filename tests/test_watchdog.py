"""The watchdog thread (``pytest_gridgate.timeouts.watchdog``), directly: armed, re-armed,
disarmed and stopped from this test, firing into a real callback on its real thread.

No wall-clock thresholds: deadlines are tiny and each test waits for an event (the
callback ran) or for the thread to end; a hang is caught by the outer ``--timeout``.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from pytest_gridgate.timeouts.state import COLLECTION_INDEX, LONGEST, NAME
from pytest_gridgate.timeouts.supervisor import Supervisor
from pytest_gridgate.timeouts.watchdog import Armed, Watchdog


class Fired:
    """The callback: what the watchdog fired for, in order."""

    def __init__(self) -> None:
        self.armed: list[Armed] = []
        self.threads: list[str] = []
        self.event = threading.Event()

    def __call__(self, armed: Armed) -> None:
        self.armed.append(armed)
        self.threads.append(threading.current_thread().name)
        self.event.set()

    def wait(self) -> Armed:
        assert self.event.wait(timeout=120), "the watchdog never fired"
        self.event.clear()
        return self.armed[-1]


@pytest.fixture
def fired() -> Fired:
    return Fired()


@pytest.fixture
def watchdog(fired: Fired) -> Iterator[Watchdog]:
    dog = Watchdog(fired)
    yield dog
    dog.stop()


def _watchdog_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == NAME]


def test_fires_once_with_what_was_armed(watchdog: Watchdog, fired: Fired) -> None:
    before = time.monotonic()
    deadline = watchdog.arm("tests/test_x.py::test_hangs", 3.0, 0.05)

    armed = fired.wait()

    assert armed.nodeid == "tests/test_x.py::test_hangs"
    assert armed.seconds == 3.0  # the soft timeout, for the report
    assert armed.deadline == deadline
    assert deadline >= before + 0.05
    assert time.monotonic() >= deadline  # never early
    assert armed.thread_id == threading.get_ident()  # the thread that armed: the test's
    assert fired.threads == [NAME]  # called on the watchdog's own thread
    # Once per arming: a second deadline fires again, the first never twice.
    watchdog.arm("tests/test_x.py::test_next", 1.0, 0.05)
    assert fired.wait().nodeid == "tests/test_x.py::test_next"
    assert [a.nodeid for a in fired.armed] == [
        "tests/test_x.py::test_hangs",
        "tests/test_x.py::test_next",
    ]


def test_disarmed_and_rearmed_tests_do_not_fire(watchdog: Watchdog, fired: Fired) -> None:
    # A stream of tests that finish in time: each is disarmed (or replaced) before its
    # deadline. Only the last, left armed, fires.
    for n in range(50):
        watchdog.arm(f"test_{n}", 60.0, 60.0)
        watchdog.disarm()
    watchdog.arm("test_replaced", 60.0, 60.0)
    watchdog.arm("test_left_armed", 1.0, 0.01)  # an earlier deadline wakes the thread

    assert fired.wait().nodeid == "test_left_armed"
    assert [a.nodeid for a in fired.armed] == ["test_left_armed"]
    assert [a.generation for a in fired.armed] == [52]  # every arming counted


def test_a_timeout_too_long_for_a_timer_is_armed_as_the_longest(watchdog: Watchdog) -> None:
    for seconds in (math.inf, math.nan, 1e12):
        deadline = watchdog.arm("test_forever", seconds, seconds)
        assert deadline <= time.monotonic() + LONGEST
        watchdog.disarm()


def test_one_thread_for_the_run_and_it_ends_with_stop(fired: Fired) -> None:
    dog = Watchdog(fired)
    assert dog.arm("a", 60.0, 60.0)  # the thread starts with the first arming
    dog.arm("b", 60.0, 60.0)
    [thread] = [t for t in _watchdog_threads() if t.is_alive()]
    assert thread.daemon  # never keeps the interpreter alive

    dog.stop()

    assert not thread.is_alive()
    assert fired.armed == []


def _state(supervisor: Supervisor) -> tuple[int, int, float, int]:
    """The state line as the watcher reads it: generation, ticks, seconds, index."""
    generation, ticks, seconds, index = bytes(supervisor.state).split()
    return int(generation), int(ticks), float(seconds), int(index)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the supervisor: Linux only")
def test_the_state_line_tells_the_supervisor_what_is_armed(
    watchdog: Watchdog, fired: Fired
) -> None:
    # What the watcher (watcher.sh) and the take-over read: the generation, the ticks to
    # wait (0: nothing armed), the timeout and the test's index; written with no system
    # call. A real supervisor watches this process meanwhile: every deadline here is
    # either far away and disarmed, or met by the thread, which stands the watcher down.
    spec = {"record": None, "report": None, "summary": None, "append": False}
    supervisor = Supervisor(spec, (1, 2))
    watchdog.supervise(supervisor, COLLECTION_INDEX)
    assert supervisor.alive()
    assert _state(supervisor)[1] == 0  # nothing armed yet

    watchdog.arm("tests/test_x.py::test_one", 2.5, 60.0, index=7)
    generation, ticks, seconds, index = _state(supervisor)
    assert (seconds, index) == (2.5, 7)
    assert ticks >= 61  # the deadline plus a second of grace, rounded up: never early

    watchdog.arm("collection", 3.0, 60.0, index=COLLECTION_INDEX)
    assert _state(supervisor) == (generation + 1, ticks, 3.0, COLLECTION_INDEX)

    watchdog.disarm()
    assert _state(supervisor)[1] == 0

    # When the thread acts itself, the watcher stands down first.
    watchdog.arm("tests/test_x.py::test_two", 1.0, 0.01, index=8)
    assert fired.wait().nodeid == "tests/test_x.py::test_two"
    assert _state(supervisor)[1] == 0

    watchdog.stop()  # stops the watcher with the thread
    assert not supervisor.alive()
