"""``threads``: threads a test started and left running."""

from __future__ import annotations

import threading
from fnmatch import fnmatchcase
from typing import Any

from pytest_gridgate.leaks.base import Leak
from pytest_gridgate.leaks.tracking import start_number, started_at, thread_start_count

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


class ThreadCheck:
    name = "threads"
    may_pend = True  # a thread that is ending gets the grace period

    def __init__(self, ignore: tuple[str, ...] = ()) -> None:
        self.ignore = KNOWN_THREADS + tuple(ignore)

    # The number of threads started so far: a test that started none left none running.
    snapshot = staticmethod(thread_start_count)

    def compare(self, before: Any) -> list[Leak]:
        if thread_start_count() == before:
            return []
        leaks = []
        for thread in threading.enumerate():
            if start_number(thread) <= before or not thread.is_alive():
                continue
            if isinstance(thread, threading._DummyThread):
                continue  # started outside Python's threading: not ours to judge
            if any(fnmatchcase(thread.name, pattern) for pattern in self.ignore):
                continue
            where = started_at(thread)
            detail = (
                f"thread {thread.name!r} still running"
                f" (target {describe_target(thread)}"
                + (f", started at {where}" if where else "")
                + (", daemon" if thread.daemon else ", non-daemon: blocks interpreter exit")
                + ")"
            )
            leaks.append(Leak("thread", ("thread", id(thread)), detail, pending=True))
        return leaks

    def alive(self) -> list[Leak]:
        """Non-daemon threads still running: they would keep the interpreter from exiting."""
        main = threading.main_thread()
        leaks = []
        for thread in threading.enumerate():
            if thread is main or thread.daemon or isinstance(thread, threading._DummyThread):
                continue
            if any(fnmatchcase(thread.name, pattern) for pattern in self.ignore):
                continue
            detail = f"non-daemon thread {thread.name!r} still running at session end"
            where = started_at(thread)
            detail += f" (target {describe_target(thread)}" + (
                f", started at {where})" if where else ")"
            )
            leaks.append(Leak("thread", ("thread", id(thread)), detail, pending=True))
        return leaks
