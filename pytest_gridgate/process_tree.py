"""Process trees: finding a process's descendants, killing them with a grace, reaping.

Shared infrastructure, not a gate: the timeouts gate kills what a timed-out test started
(stage one, stage two), the supervisor's take-over kills a run stuck in C code from
outside, and the leaks gate counts and cleans up the children a test left running.

Out of descriptors (``EMFILE``, ``ENFILE``) is raised, never taken for a process that
is gone. Standard library only, and psutil only where ``/proc`` cannot answer: the take-over runs
in ``python -I -S`` (no site-packages), and importing psutil costs a run about 10 ms.
On Linux everything is read from ``/proc``: a process's children from
``/proc/PID/task/*/children`` (no walk over the whole process table), its start time and
state from ``/proc/PID/stat``. A process is known by its pid and start time together, so
that a pid the kernel hands out again in between is never signalled by mistake.
"""

from __future__ import annotations

import errno
import os
import sys
import time

# /proc/PID/task/TID/children needs CONFIG_PROC_CHILDREN (every mainstream kernel has it).
HAVE_PROC = sys.platform.startswith("linux") and os.path.exists(
    f"/proc/self/task/{os.getpid()}/children"
)
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_BOOTTIME = getattr(time, "CLOCK_BOOTTIME", None)
#: Out of descriptors: the process may well be there, so these errors are raised, never
#: read as "gone" (the leaks gate retries with its spare descriptors).
EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE})
#: How often a wait for processes to end looks again.
_POLL = 0.01


def since_boot() -> float:
    """Seconds since boot, the clock of :func:`start_time` (cheap to read).

    Comparing ``time.time()`` with psutil's ``create_time()`` is off by up to a second,
    since the boot time that psutil adds is rounded to whole seconds.
    """
    return time.clock_gettime(_BOOTTIME) if _BOOTTIME is not None else 0.0


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name: state first; None: gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError as exc:
        if exc.errno in EXHAUSTED:
            raise
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    return stat[stat.rfind(b")") + 2 :].decode("ascii", "replace").split()


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot, as ``/proc`` says it (Linux only:
    None elsewhere, and for a process that is gone)."""
    fields = _stat(pid) if HAVE_PROC else None
    return int(fields[19]) if fields is not None else None


def start_time(pid: int) -> float | None:
    """When ``pid`` started, in seconds since boot (see :func:`since_boot`); None: gone."""
    if HAVE_PROC:
        ticks = start_ticks(pid)
        return ticks / _TICKS if ticks is not None else None
    import psutil

    try:
        return psutil.Process(pid).create_time() - psutil.boot_time()
    except psutil.Error:
        return None


def is_running(pid: int) -> bool:
    """Whether ``pid`` is a live process: not gone, not a zombie (exited, unreaped)."""
    if HAVE_PROC:
        fields = _stat(pid)
        return fields is not None and fields[0] not in ("Z", "X")
    import psutil

    try:
        return psutil.Process(pid).status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.Error:
        return False


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (of every one of its threads)."""
    if not HAVE_PROC:
        import psutil

        try:
            return [child.pid for child in psutil.Process(pid).children()]
        except psutil.Error:
            return []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError as exc:
        if exc.errno in EXHAUSTED:
            raise
        return []  # gone
    found: list[int] = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                found.extend(int(child) for child in fh.read().split())
        except OSError as exc:
            if exc.errno in EXHAUSTED:
                raise
            continue  # the thread ended meanwhile
    return found


def descendants(root: int, *, spare: int | None = None) -> list[int]:
    """Every process below ``root``, parents before their children; neither ``spare`` nor
    anything below it."""
    found: list[int] = []
    pending = [root]
    while pending:
        for child in children(pending.pop(0)):
            if child != spare and child not in found:  # a reused pid cannot loop us
                found.append(child)
                pending.append(child)
    return found


def name(pid: int) -> str | None:
    """``pid``'s process name (``/proc/PID/comm``); None where ``/proc`` cannot say (no
    ``/proc``, or the process is gone)."""
    if not HAVE_PROC:
        return None
    try:
        with open(f"/proc/{pid}/comm", "rb") as fh:
            return os.fsdecode(fh.read().rstrip(b"\n"))
    except OSError as exc:
        if exc.errno in EXHAUSTED:
            raise
        return None


def command(pid: int) -> str:
    """``pid``'s command line (its name if that is empty), cut to 80 characters; "?"."""
    if HAVE_PROC:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                raw = fh.read()
            if not raw.strip(b"\0"):
                with open(f"/proc/{pid}/comm", "rb") as fh:
                    raw = fh.read()
        except OSError as exc:
            if exc.errno in EXHAUSTED:
                raise
            return "?"
        return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()[:80]
    import psutil

    try:
        proc = psutil.Process(pid)
        return (" ".join(proc.cmdline()) or proc.name())[:80]
    except psutil.Error:
        return "?"


def reap(pid: int) -> bool:
    """Wait for ``pid`` if it is our child and has exited (a zombie no more); True once it
    is gone for us: reaped now, reaped by someone else, or no child of ours."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True  # not ours, or someone else reaped it meanwhile
    except OSError:
        return False
    return done == pid


def _send(pid: int, started: float | None, signum: int) -> bool:
    """Send ``signum`` to ``pid`` if it is still the process that started at ``started``."""
    if started is not None and start_time(pid) != started:
        return False  # gone, and the pid maybe someone else's by now
    try:
        os.kill(pid, signum)
    except OSError:
        return False
    return True


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait up to ``timeout`` seconds for ``pids`` to end, reaping those that are our
    children; the ones still running."""
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while True:
        alive = [pid for pid in alive if not (reap(pid) and not is_running(pid))]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(_POLL)


class Killed:
    """What :func:`kill_tree` did: ``killed``, one line per process signalled (pid and
    command, for a report), and ``survivors``, the pids still running when it gave up."""

    __slots__ = ("killed", "survivors")

    def __init__(self, killed: list[str], survivors: list[int]) -> None:
        self.killed = killed
        self.survivors = survivors


def kill_tree(
    root: int,
    *,
    include_root: bool = False,
    spare: int | None = None,
    since: float = 0.0,
    grace: float = 0.0,
    wait: float = 2.0,
    root_started: float | None = None,
) -> Killed:
    """Kill ``root``'s descendants (and ``root`` itself with ``include_root``), parents
    first so that none of them starts a replacement, and reap the ones that are ours.

    ``spare``: a process left alone with everything below it. ``since``: only processes
    started at or after this moment (:func:`since_boot`): what a test started, not what
    was running before it. ``grace``: seconds between SIGTERM and SIGKILL (0: SIGKILL at
    once); ``wait``: how long to wait, after SIGKILL, for the processes to end.
    ``root_started``: ``root``'s :func:`start_time` when it was found; a process under
    its pid that started at another time is someone else's, and nothing is killed.
    """
    if root_started is not None and start_time(root) != root_started:
        return Killed([], [])
    import signal  # not at the top: the take-over imports this module, and signal's enums cost

    pids = descendants(root, spare=spare)
    if include_root:
        pids.insert(0, root)
    victims: list[tuple[int, float | None]] = []
    for pid in pids:
        started = start_time(pid)
        # /proc start times count clock ticks (10 ms): allow one tick, and a little more.
        if started is None or (since and started < since - 0.02):
            continue
        victims.append((pid, started))
    described = {pid: f"pid {pid} {command(pid)!r}" for pid, _ in victims}
    killed: list[str] = []
    if grace > 0:
        for pid, started in victims:
            if _send(pid, started, signal.SIGTERM):
                killed.append(described[pid])
        left = set(wait_gone([pid for pid, _ in victims], grace))
        victims = [(pid, started) for pid, started in victims if pid in left]
    sigkill = getattr(signal, "SIGKILL", signal.SIGTERM)  # Windows has no SIGKILL
    for pid, started in victims:
        if _send(pid, started, sigkill) and described[pid] not in killed:
            killed.append(described[pid])
    return Killed(killed, wait_gone([pid for pid, _ in victims], wait))
