"""``threads``: threads a test started and left running."""

from __future__ import annotations

import threading
from fnmatch import fnmatchcase
from typing import Any

from pytest_gridgate.leaks.base import Leak
from pytest_gridgate.leaks.spawns import started_at

#: Known neighbours: pytest-timeout's timer, gridgate's own watchdogs, execnet's I/O
#: threads (xdist) and coverage's debug/sysmon threads are never a test's leak.
KNOWN_THREADS = ("pytest_timeout *", "gridgate-*", "execnet*", "coverage*")


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

    # threading._active maps ident -> Thread for every live Python-started thread; its copy
    # is the snapshot, taken in C (Thread has no __eq__: equal copies hold the same threads).
    snapshot = staticmethod(threading._active.copy)  # type: ignore[attr-defined]

    def compare(self, before: Any) -> list[Leak]:
        now: dict[int, threading.Thread] = threading._active  # type: ignore[attr-defined]
        # Compared in C: Thread has no __eq__ of its own, so this is identity per ident.
        if now == before:
            return []
        leaks = []
        for ident, thread in list(now.items()):
            if before.get(ident) is thread or not thread.is_alive():
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
