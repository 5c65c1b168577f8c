"""``processes`` and ``zombies``: child processes a test left running or never waited for.

Reading the process table costs milliseconds on a busy host, so it is never done per test.
The cheap tier asks three questions that cost well under a microsecond each: did the
process-start counter of the audit hook move, did ``multiprocessing``'s set of children
change, and does ``waitid(WNOWAIT)`` see an exited child nobody waited for? Only then are
our children listed (``/proc/self/task/*/children`` on Linux, psutil elsewhere) and
compared with the children known before the test, by pid and start time.
"""

from __future__ import annotations

import os
import sys
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from pytest_gridgate import process_tree
from pytest_gridgate._compat import multiprocessing_children
from pytest_gridgate.leaks.base import Leak
from pytest_gridgate.leaks.headroom import reserve, with_headroom
from pytest_gridgate.leaks.holders import popen_holders, weakly
from pytest_gridgate.leaks.tracking import forked, spawn_count, spawning_thread, thread_started

if TYPE_CHECKING:
    import psutil

#: Known neighbours: multiprocessing's helpers and gridgate's own watchdogs.
KNOWN_PROCESSES = (
    "*multiprocessing.resource_tracker*",
    "*multiprocessing.forkserver*",
    "gridgate-*",
)

_EMPTY: frozenset[Any] = frozenset()

ProcessKey = tuple[int, float]


# The snapshot: process starts counted so far, multiprocessing's children, the pid of an
# unwaited child (None: none, or nothing to peek at), our children at the last scan. A
# plain tuple: built twice per test, where a NamedTuple costs a Python call each time.
ProcessBaseline = tuple[int, frozenset[Any], "int | None", frozenset[ProcessKey]]


def _peek_zombie() -> int | None:
    """The pid of one exited, unwaited child, without reaping it."""
    try:
        result = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except (ChildProcessError, AttributeError):
        return None
    return result.si_pid if result is not None else None


_modules = sys.modules


def _mp_children() -> frozenset[Any]:
    # multiprocessing keeps its started, unjoined Process objects in a module-level set:
    # a forkserver starts them without a process start in this process, so watch it too.
    children = multiprocessing_children()
    return frozenset(children) if children else _EMPTY


def direct_children() -> list[int]:
    return process_tree.children(os.getpid())


# When a child started (it tells a reused pid apart), or None when it is gone; from /proc
# where it exists: importing psutil just to key gridgate's own supervisor would cost every
# run ~10 ms at start-up.
_start_time = process_tree.start_time
# A child's name without psutil, where /proc has it.
_proc_name = process_tree.name


def _scan() -> set[ProcessKey]:
    """Our direct children, by pid and start time."""
    children = set()
    for pid in direct_children():
        started = _start_time(pid)
        if started is not None:
            children.add((pid, started))
    return children


def describe(proc: psutil.Process) -> str:
    import psutil

    try:
        cmdline = " ".join(proc.cmdline()) or proc.name()
    except psutil.Error:
        cmdline = "?"
    return cmdline if len(cmdline) <= 120 else cmdline[:117] + "..."


def _killed(pid: int, started: float | None) -> bool:
    """Kill a leaked child (the one that started at ``started``) and everything below it,
    and reap it; True when none survived."""
    killed = process_tree.kill_tree(pid, include_root=True, wait=5, root_started=started)
    return not killed.survivors


def _starter(pid: int) -> tuple[tuple[str, int] | None, str | None]:
    """The key of the thread that started child ``pid`` (running or ended), and where that
    thread was started: a thread that a test left running and that starts (or restarts)
    processes later makes them for that test (and one cause of them all)."""
    started = thread_started(spawning_thread(pid))
    return started if started is not None else (None, None)


def _reaped(pid: int) -> bool:
    process_tree.reap(pid)  # or someone else reaped it meanwhile
    return True


class ProcessCheck:
    """Running children (``processes``) and exited, unwaited ones (``zombies``)."""

    may_pend = True  # a process that is exiting, a zombie about to be waited for

    def __init__(
        self,
        *,
        processes: bool = True,
        zombies: bool = True,
        kill: bool = True,
        ignore: tuple[str, ...] = (),
    ) -> None:
        self.name = "processes" if processes else "zombies"
        self.processes = processes
        self.zombies = zombies
        self.kill = kill
        self.ignore = KNOWN_PROCESSES + tuple(ignore)
        # The children seen at the last scan, and the counter/multiprocessing state then:
        # while neither moves, no new child can have appeared from Python.
        reserve()  # spare descriptors, for a test that used up the process's
        self._known: frozenset[ProcessKey] = frozenset(with_headroom(_scan))
        self._spawns_at, self._mp_at = spawn_count(), _mp_children()
        # The Popen objects of the new children, by pid (weakly), from wants_collection()
        # to wants_full_collection().
        self._owners: dict[int, Any] = {}

    def _refresh(self, scan: set[ProcessKey] | None = None) -> None:
        self._spawns_at, self._mp_at = spawn_count(), _mp_children()
        self._known = frozenset(with_headroom(_scan) if scan is None else scan)

    def snapshot(self) -> ProcessBaseline:
        spawns = spawn_count()
        # _mp_children(), inlined (the private attribute: see _compat): twice per test.
        module = _modules.get("multiprocessing.process")
        children = getattr(module, "_children", None)
        mp_children = frozenset(children) if children else _EMPTY
        if spawns != self._spawns_at or mp_children != self._mp_at:
            self._refresh()
        known = self._known
        # A child the session started before the test may exit during it, unwaited: the
        # counters do not move, only a peek sees it. Without children there is nothing to
        # peek at (and waitid would raise).
        zombie = _peek_zombie() if known and self.zombies else None
        return spawns, mp_children, zombie, known

    def wants_collection(self, before: Any) -> bool:
        """Whether a child started since ``before`` is still there (garbage may own it).

        An object that owns a child process and stops it in ``__del__`` (pexpect's
        ``spawn``) releases it only when collected: the detector collects garbage once,
        before any check judges, when a check asks for it.
        """
        self._owners = {}  # a new check: an earlier one's owners are stale
        new = self._new_children(before)
        # A forked child (pexpect's pty children) has no Popen: no walk of the heap for it
        # (a whole-heap walk in every pexpect test that left its child to garbage).
        maybe_owned = {pid for pid in new if not forked(pid)}
        if maybe_owned:
            # Noted (weakly) before the young collection: after it, a dead reference is an
            # owner that was garbage.
            self._owners = weakly(popen_holders(maybe_owned))
        return bool(new)

    def wants_full_collection(self, before: Any) -> bool:
        """Whether a new child may still be owned by garbage after the young collection.

        A new child's ``Popen`` was made since ``before``. Still there after the young
        collection, it is reachable: young, it survived that collection; old, it survived
        a full one that ran since it was made (watchdog's suite collects in every test's
        teardown). Only an owner that became garbage since, from an older object, escapes
        this (the fd check's limit too). Its child is then the test's, and no full
        collection (tens of milliseconds on a big suite's heap: every test of watchdog's
        restart chain paid one) is needed to tell. A child without a ``Popen`` (pexpect's
        pty children), or whose ``Popen`` the young collection freed, still gets one.
        """
        owners, self._owners = self._owners, {}
        return any(
            (ref := owners.get(pid)) is None or ref() is None for pid in self._new_children(before)
        )

    def _new_children(self, before: Any) -> set[int]:
        """The pids of the children started since ``before`` and still there."""
        spawns_before, mp_children_before, _, known_before = before
        if spawn_count() == spawns_before and _mp_children() == mp_children_before:
            return set()
        return {key[0] for key in with_headroom(_scan) if key not in known_before}

    def compare(self, before: Any) -> list[Leak]:
        # Out of descriptors (a test that opened files until EMFILE): with the spares.
        return with_headroom(self._compare, before)

    def _compare(self, before: Any) -> list[Leak]:
        spawns_before, mp_children_before, zombie_before, known_before = before
        mp_children = _mp_children()
        if spawn_count() == spawns_before and mp_children == mp_children_before:
            # Without any child there is nothing to peek at (and waitid would raise).
            if not (self.zombies and known_before):
                return []
            zombie = _peek_zombie()
            if zombie is None or zombie == zombie_before:
                return []
        scan = _scan()
        self._refresh(scan)
        new = [key for key in scan if key not in known_before]
        if self.processes:
            # Children of the forkserver are not ours in the process table, but are in
            # multiprocessing's bookkeeping.
            pids = {pid for pid, _ in scan}
            for process in mp_children - mp_children_before:
                pid = process.pid
                if pid is None or pid in pids or not process.is_alive():
                    continue
                started = _start_time(pid)
                if started is not None:
                    new.append((pid, started))
        leaks = []
        for key in new:
            leak = self._judge(key)
            if leak is not None:
                leaks.append(leak)
        return leaks

    def _ignored(self, proc: psutil.Process, cmdline: str) -> bool:
        import psutil

        try:
            name = proc.name()
        except psutil.Error:
            name = ""
        return any(fnmatchcase(cmdline, p) or fnmatchcase(name, p) for p in self.ignore)

    def _judge(self, key: ProcessKey) -> Leak | None:
        import psutil  # the deep tier only: the import alone costs ~10 ms

        try:
            proc = psutil.Process(key[0])
            zombie = proc.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return None  # ended and was reaped meanwhile
        if zombie:
            if not self.zombies:
                return None
            try:
                name = proc.name()
            except psutil.Error:
                name = "?"
            detail = f"pid {proc.pid} '{name}' exited but was never waited for"
            # Pending: a thread of the test's code may be about to wait for it.
            return Leak(
                "zombie",
                key,
                detail,
                pending=True,
                cleanup=lambda: _reaped(proc.pid),
                still_there=lambda: _start_time(key[0]) == key[1],  # until it is reaped
            )
        if not self.processes:
            return None
        cmdline = describe(proc)
        if self._ignored(proc, cmdline):
            return None
        below = len(process_tree.descendants(proc.pid))
        tree = f" with {below} descendant(s)" if below else ""
        detail = f"pid {proc.pid} '{cmdline}' still running{tree}"
        started = process_tree.start_time(proc.pid)
        cleanup = (lambda: _killed(proc.pid, started)) if self.kill else None
        parent, origin = _starter(key[0])
        return Leak(
            "process",
            key,
            detail,
            pending=True,
            cleanup=cleanup,
            origin=origin,
            parent=parent,
            # Also while it is a zombie: the grace period waits for it to be reaped.
            still_there=lambda: _start_time(key[0]) == key[1],
        )

    def alive(self) -> list[Leak]:
        """Every running child that is not a known neighbour (for the end of the session)."""
        if not self.processes:
            return []
        return with_headroom(self._alive)

    def _alive(self) -> list[Leak]:
        leaks = []
        for key in _scan():
            # A known neighbour by name (gridgate's own supervisor, a child of every run)
            # is passed over without psutil, whose import alone costs ~10 ms.
            name = _proc_name(key[0])
            if name is not None and any(fnmatchcase(name, p) for p in self.ignore):
                continue
            leak = self._judge(key)
            if leak is not None and leak.kind == "process":
                leaks.append(leak)
        return leaks
