"""Stage two's thread: ``gridgate-watchdog``, armed once per test with a deadline (the
test's timeout plus ``kill_after``).

pytest-timeout's signal method (stage one) only works while the interpreter executes
bytecode in the main thread. A test stuck in C code, with SIGALRM blocked, or running
outside the main thread ignores it. When the deadline passes, this thread calls back into
the gate (:mod:`pytest_gridgate.timeouts.stage_two`), which dumps the stacks, records the
verdict, kills the test's children and ends the process. It needs the GIL, so it cannot
act against C code that holds it (``sum(range(10**12))`` never releases it): the
supervisor (:mod:`pytest_gridgate.timeouts.supervisor`) watches the same deadline from
another process, through the state line this thread writes.

Arming costs a lock and one line written to shared memory, so every test can afford it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from pytest_gridgate.timeouts.state import GRACE, LINE, LONGEST, MAX_TICKS, NAME, NOT_ARMED, TICKS

if TYPE_CHECKING:
    from mmap import mmap

    from pytest_gridgate.timeouts.supervisor import Supervisor


class Armed:
    """The test (or collection) that the watchdog was armed for, as its thread fires.

    A plain class: generating a dataclass's methods costs every run more at start-up than
    this whole class.
    """

    __slots__ = ("deadline", "generation", "nodeid", "seconds", "thread_id")

    def __init__(
        self,
        nodeid: str,
        seconds: float,  # the soft timeout, for the report
        deadline: float,  # time.monotonic() at which stage two begins
        thread_id: int,  # the thread running the test
        generation: int,
    ) -> None:
        self.nodeid = nodeid
        self.seconds = seconds
        self.deadline = deadline
        self.thread_id = thread_id
        self.generation = generation


# What Watchdog.arm keeps: Armed's arguments, as a tuple. Building an Armed costs more than
# the rest of arming, which runs for every test; it is built when the thread fires.
_Arming = tuple[str, float, float, int, int]
_DEADLINE: Final = 2  # its index


class Watchdog:
    """A single long-lived thread that fires ``on_expire`` when the armed deadline passes,
    and, once :meth:`supervise` was called, the line that tells the supervisor's watcher.

    Re-arming does not wake the thread when the new deadline is later than the moment it
    will wake anyway, so a steady stream of short tests costs a lock and no context switch.
    The watcher's line is written here rather than by a method of :class:`Supervisor`:
    arming runs once per test, and a call costs as much as the write.
    """

    def __init__(self, on_expire: Callable[[Armed], None]) -> None:
        self._on_expire = on_expire
        self._lock = threading.Lock()  # entered directly: Condition's own __enter__ is Python
        self._cond = threading.Condition(self._lock)
        self._armed: _Arming | None = None
        self._wake_at: float | None = None  # None: waiting without a timeout
        self._generation = 0
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.supervisor: Supervisor | None = None
        self._state: mmap | None = None  # the supervisor's state line
        self._line = b""  # LINE with TICKS and SECONDS filled in...
        self._after = self._seconds = -1.0  # ...for these

    def supervise(self, supervisor: Supervisor, index: int) -> None:
        """Tell ``supervisor`` what is armed from now on (``index``: what is armed now)."""
        self.supervisor = supervisor
        self._state = supervisor.state
        if self._armed is not None:
            armed = Armed(*self._armed)
            self._format(armed.deadline - time.monotonic(), armed.seconds)
            self._state[:] = self._line % (armed.generation, index)

    def arm(self, nodeid: str, seconds: float, after: float, index: int = -1) -> float:
        """Stage two is due ``after`` seconds from now (the deadline returned); ``index``:
        the test's line in the supervisor's nodeids file (``COLLECTION_INDEX`` while
        collecting; -1: not known to the supervisor)."""
        if not after <= LONGEST:  # also NaN: formatting and waiting would overflow
            after = LONGEST
        deadline = time.monotonic() + after
        lock = self._lock
        lock.acquire()  # not ``with``: half the cost, once per test
        try:
            generation = self._generation = self._generation + 1
            self._armed = (nodeid, seconds, deadline, threading.get_ident(), generation)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=NAME, daemon=True)
                self._thread.start()
            elif self._wake_at is None or deadline < self._wake_at:
                self._cond.notify()
        finally:
            lock.release()
        state = self._state
        if state is not None and index != -1:
            supervisor = self.supervisor
            if supervisor is not None and not supervisor.alive():
                supervisor.restart()  # a test killed it: no test may run unwatched
            if after != self._after or seconds != self._seconds:
                self._format(after, seconds)
            state[:] = self._line % (generation, index)  # no system call
        return deadline

    def _format(self, after: float, seconds: float) -> None:
        # Formatting a float costs more than the rest of arming: once per distinct timeout.
        ticks = min(max(math.ceil(after + GRACE), 1), MAX_TICKS)
        self._line = LINE % (ticks, seconds)
        self._after, self._seconds = after, seconds

    def disarm(self) -> None:
        # No notify: the thread wakes at the old deadline, finds nothing armed and sleeps on.
        self._armed = None
        state = self._state
        if state is not None:
            state[TICKS] = NOT_ARMED

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._cond.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self.supervisor is not None:
            self.supervisor.stop()
            self.supervisor = None
            self._state = None  # closed: arming after the run writes nowhere

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopped:
                        return
                    armed = self._armed
                    if armed is None:
                        self._wake_at = None
                        self._cond.wait()
                        continue
                    remaining = armed[_DEADLINE] - time.monotonic()
                    if remaining <= 0:
                        break
                    self._wake_at = armed[_DEADLINE]
                    self._cond.wait(remaining)
                self._armed = None  # fire once per arming
            if self._state is not None:
                self._state[TICKS] = NOT_ARMED  # this thread acts: the watcher stands down
            # Usually ends the process; returns when it must not (someone is in pdb).
            self._on_expire(Armed(*armed))
