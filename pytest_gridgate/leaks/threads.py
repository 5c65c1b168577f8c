"""``threads``: threads a test started and left running.

A thread that has been started but has not finished starting (CPython keeps it in
``threading._limbo``: it is in ``threading.enumerate()``, yet ``is_alive()`` is still False)
is pending, not ended: the fixture or test that started it owns it.

A non-daemon thread the gate has judged leaked would keep the interpreter from exiting
after the report is written; at the end of the session :func:`let_interpreter_exit` takes it
off the list of threads the interpreter waits for.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Hashable, Set
from fnmatch import fnmatchcase
from typing import Any

from pytest_gridgate.leaks.base import Leak
from pytest_gridgate.leaks.tracking import (
    parent_number,
    start_number,
    started_at,
    thread_start_count,
    thread_started,
)

#: Known neighbours: pytest-timeout's timer, gridgate's own watchdogs, execnet's I/O
#: threads (xdist) and coverage's debug/sysmon threads are never a test's leak; nor is
#: trio's process-wide worker thread cache (idle workers live on for 10 s).
KNOWN_THREADS = ("pytest_timeout *", "gridgate-*", "execnet*", "coverage*", "Trio thread *")


def describe_target(thread: threading.Thread) -> str:
    target = getattr(thread, "_target", None)
    if target is None:
        return f"{type(thread).__module__}.{type(thread).__qualname__}.run"
    code = getattr(target, "__code__", None)
    name = getattr(target, "__qualname__", None) or repr(target)
    if code is not None:
        return f"{name} ({code.co_filename}:{code.co_firstlineno})"
    return name


def has_ended(thread: threading.Thread) -> bool:
    """Whether ``thread`` (from ``threading.enumerate()``) has finished running.

    ``is_alive()`` is False both for a thread that ended and for one still starting: the
    latter has not set its ``_started`` event yet (a private attribute of every CPython
    from 3.10 on; without it, the public answer stands).
    """
    if thread.is_alive():
        return False
    started = getattr(thread, "_started", None)
    return not isinstance(started, threading.Event) or started.is_set()


# Threads released by let_interpreter_exit() where threading's shutdown is replaced
# (CPython 3.13+); weak: a released thread that ends is forgotten.
_released: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


def _shutdown_without_released(original: Any) -> Any:
    """``threading._thread_shutdown`` that waits for every non-daemon thread but those
    released (the original waits for all, on handles Python cannot take back)."""

    def shutdown() -> None:
        current = threading.current_thread()
        while True:
            waiting = [
                thread
                for thread in threading.enumerate()
                if thread is not current
                and not thread.daemon
                and thread not in _released
                and not isinstance(thread, threading._DummyThread)
                and not has_ended(thread)
            ]
            if not waiting:
                break
            for thread in waiting:
                thread.join()
        if not any(thread.is_alive() for thread in _released):
            original()  # nothing released still runs: the interpreter's own wait

    shutdown._gridgate = True  # type: ignore[attr-defined]
    return shutdown


def let_interpreter_exit(thread: threading.Thread) -> bool:
    """Stop the interpreter's exit from waiting for ``thread``; whether it could.

    Python offers no public way to do this once a thread runs, so this uses the private
    state ``threading._shutdown()`` reads, each form guarded:

    * CPython 3.10 to 3.12: the thread's ``_tstate_lock`` in ``threading._shutdown_locks``
      (under ``threading._shutdown_locks_lock``), and ``_daemonic`` (``daemon`` cannot be
      set on a running thread);
    * CPython 3.13+: ``threading._thread_shutdown`` (the C function that waits for the
      handles of every non-daemon thread, looked up by ``_shutdown()`` at exit) is
      replaced, once, by one that joins every other non-daemon thread instead.
    """
    if thread.daemon or has_ended(thread):
        return True
    try:
        lock = getattr(thread, "_tstate_lock", None)
        locks = getattr(threading, "_shutdown_locks", None)
        guard = getattr(threading, "_shutdown_locks_lock", None)
        if lock is not None and isinstance(locks, set) and guard is not None:
            with guard:
                locks.discard(lock)
            thread._daemonic = True  # type: ignore[attr-defined]
            return True
        original = getattr(threading, "_thread_shutdown", None)
        if callable(original):
            if not getattr(original, "_gridgate", False):
                threading._thread_shutdown = _shutdown_without_released(original)  # type: ignore[attr-defined]
            _released.add(thread)
            return True
    except Exception:  # an interpreter whose internals differ: the thread is waited for
        return False
    return False


class ThreadCheck:
    name = "threads"
    may_pend = True  # a thread that is ending gets the grace period

    def __init__(self, ignore: tuple[str, ...] = ()) -> None:
        self.ignore = KNOWN_THREADS + tuple(ignore)

    # The number of threads started so far: a test that started none left none running.
    snapshot = staticmethod(thread_start_count)

    def _ignored(self, thread: threading.Thread) -> bool:
        return any(fnmatchcase(thread.name, pattern) for pattern in self.ignore)

    def compare(self, before: Any) -> list[Leak]:
        if thread_start_count() == before:
            return []
        leaks = []
        threads = threading.enumerate()
        for thread in threads:
            if start_number(thread) <= before or has_ended(thread):
                continue
            if isinstance(thread, threading._DummyThread):
                continue  # started outside Python's threading: not ours to judge
            if self._ignored(thread):
                continue
            where = started_at(thread)
            starting = "" if thread.is_alive() else ", still starting"
            detail = (
                f"thread {thread.name!r} still running"
                f" (target {describe_target(thread)}"
                + (f", started at {where}" if where else "")
                + (", daemon" if thread.daemon else ", non-daemon: blocks interpreter exit")
                + starting
                + ")"
            )
            # The starting thread's key, also when it has ended since (a watcher thread that
            # starts its successor and returns).
            started = thread_started(parent_number(thread))
            leaks.append(
                Leak(
                    "thread",
                    ("thread", id(thread)),
                    detail,
                    pending=True,
                    origin=where,
                    parent=started[0] if started is not None else None,
                )
            )
        return leaks

    def alive(self) -> list[Leak]:
        """Non-daemon threads still running: they would keep the interpreter from exiting."""
        main = threading.main_thread()
        leaks = []
        for thread in threading.enumerate():
            if thread is main or thread.daemon or isinstance(thread, threading._DummyThread):
                continue
            if self._ignored(thread):
                continue
            detail = f"non-daemon thread {thread.name!r} still running at session end"
            where = started_at(thread)
            detail += f" (target {describe_target(thread)}" + (
                f", started at {where})" if where else ")"
            )
            leaks.append(Leak("thread", ("thread", id(thread)), detail, pending=True, origin=where))
        return leaks

    def release(self, keys: Set[Hashable]) -> list[str]:
        """Let the interpreter exit without the non-daemon threads of ``keys`` (judged
        leaked); the names of those it could not release."""
        stuck = []
        for thread in threading.enumerate():
            if ("thread", id(thread)) in keys and not let_interpreter_exit(thread):
                stuck.append(thread.name)
        return stuck
