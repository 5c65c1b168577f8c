"""What the pytest process and its supervisor share: the names, the limits and the state
line the watcher reads, written once for both sides.

Standard library only, and not even that beyond built-ins: the take-over
(:mod:`pytest_gridgate.timeouts.takeover`) imports it in ``python -I -S``.

The state is one fixed-width ASCII line "GEN TICKS SECONDS INDEX\\n", read by the shell's
``read`` builtin (``watcher.sh``). GEN changes at every arming; TICKS is how many whole
seconds after seeing GEN the watcher waits before it takes over (0: nothing armed);
SECONDS is the test's timeout and INDEX its line in the nodeids file, both for the report.
"""

from __future__ import annotations

#: The watchdog thread's name and the supervisor's process name (the leaks gate ignores
#: threads and processes named ``gridgate-*``).
NAME = "gridgate-watchdog"
#: How long the supervisor gives the watchdog thread to act before assuming the GIL is held.
GRACE = 1.0
#: The longest timer armed (a week, the largest ``timeouts.session`` allowed): ``setitimer``
#: refuses more than about 10**9 seconds (OverflowError), a lock's wait more than about
#: 9 * 10**9, and a longer wait is as good as none. A timeout from a marker or ``--timeout``
#: (pytest-timeout's, not checked by gridgate's configuration) may be anything, ``inf`` and
#: NaN included: both are armed as this.
LONGEST = 7 * 86400.0
#: The index armed while collecting: no test yet.
COLLECTION_INDEX = -2
#: The state line, with TICKS and SECONDS filled in once per distinct timeout.
LINE = b"%%10d %10d %24a %%10d\n"
#: Where TICKS is in the line: the watchdog thread zeroes it when it acts itself.
TICKS = slice(11, 21)
NOT_ARMED = b"%10d" % 0
#: The field's width; a longer timeout is as good as none.
MAX_TICKS = 10**10 - 1
#: The collecting file: a nodeid and a newline, cut to fit.
COLLECTING_SIZE = 1024


def clamp(seconds: float) -> float:
    """``seconds`` as a timer can take it: at most :data:`LONGEST` (NaN and inf too)."""
    return seconds if seconds <= LONGEST else LONGEST  # NaN <= x is False


def idle_line() -> bytes:
    """The state before anything is armed."""
    return LINE % (0, 0.0) % (0, COLLECTION_INDEX)


def read_state(path: str) -> tuple[int, int, float] | None:
    """The armed (generation, index, seconds), or None: nothing armed, or unreadable."""
    try:
        with open(path, "rb") as fh:
            generation, ticks, seconds, index = fh.readline().split()
        if int(ticks) == 0:
            return None
        return int(generation), int(index), float(seconds)
    except (OSError, ValueError):
        return None


def read_collecting(path: str | None) -> str:
    """The collector the run was collecting (its nodeid), or "" if unknown."""
    if not path:
        return ""
    try:
        with open(path, "rb") as fh:
            return fh.read().split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    except OSError:
        return ""
