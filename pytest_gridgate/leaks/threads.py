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
from collections.abc import Hashable, Set
from fnmatch import fnmatchcase
from typing import Any

from pytest_gridgate._compat import DummyThread, let_interpreter_exit, thread_target
from pytest_gridgate._compat import thread_has_ended as has_ended
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
    target = thread_target(thread)
    if target is None:
        return f"{type(thread).__module__}.{type(thread).__qualname__}.run"
    code = getattr(target, "__code__", None)
    name = getattr(target, "__qualname__", None) or repr(target)
    if code is not None:
        return f"{name} ({code.co_filename}:{code.co_firstlineno})"
    return name


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
            if isinstance(thread, DummyThread):
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
                    still_there=lambda thread=thread: not has_ended(thread),  # type: ignore[misc]
                )
            )
        return leaks

    def alive(self) -> list[Leak]:
        """Non-daemon threads still running: they would keep the interpreter from exiting."""
        main = threading.main_thread()
        leaks = []
        for thread in threading.enumerate():
            if thread is main or thread.daemon or isinstance(thread, DummyThread):
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
