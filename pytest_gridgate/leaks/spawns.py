"""Process-wide bookkeeping that makes the per-test checks cheap.

* A counter of process starts. A test during which it did not move started no process,
  so the process check reads ``/proc`` only after tests that did. It counts every
  ``fork()`` (``os.register_at_fork``: os.fork, os.forkpty, os.spawn*, pty, multiprocessing's
  fork start method) and every call of the functions that start a process without forking
  the interpreter (``_posixsubprocess.fork_exec`` behind subprocess and multiprocessing's
  spawn/forkserver, ``os.posix_spawn[p]``, ``os.system``). Where those functions do not
  exist (Windows) an audit hook counts the matching audit events instead. The wrappers are
  preferred because an audit hook runs for every audit event of the process: some 50 per
  test inside pytest, 0.2-0.3 µs each, more than all the checks together.
* ``threading.Thread.start`` records where each thread was started, so a leaked thread can
  be reported with its origin.

All of this is process-wide by nature (neither an audit hook nor ``register_at_fork`` can
be removed), so it lives in this module and is installed once per process, however many
pytest sessions run in it (pytester). Per-session state stays in the plugin object.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
import threading
from typing import Any

_SPAWN_EVENTS = frozenset(
    {
        "subprocess.Popen",
        "os.fork",
        "os.forkpty",
        "os.posix_spawn",
        "os.posix_spawnp",
        "os.spawn",
        "os.system",
        "pty.spawn",
    }
)

# One mutable cell instead of a ``global`` statement keeps the counting cheap.
_spawns = [0]
_installed = [False]


def _count() -> None:
    _spawns[0] += 1


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event in _SPAWN_EVENTS:
        _spawns[0] += 1


def _counting(function: Any) -> Any:
    if getattr(function, "_gridgate", False):
        return function

    @functools.wraps(function)
    def counting(*args: Any, **kwargs: Any) -> Any:
        _spawns[0] += 1
        return function(*args, **kwargs)

    counting._gridgate = True  # type: ignore[attr-defined]
    return counting


def _wrap_process_starters() -> bool:
    """Count calls of the functions that start processes; False where they do not exist."""
    try:
        posixsubprocess = importlib.import_module("_posixsubprocess")
    except ImportError:
        return False
    import subprocess

    setattr(posixsubprocess, "fork_exec", _counting(posixsubprocess.fork_exec))  # noqa: B010
    if getattr(subprocess, "_fork_exec", None) is not None:  # 3.11+: imported by name
        subprocess._fork_exec = _counting(subprocess._fork_exec)  # type: ignore[attr-defined]
    for name in ("posix_spawn", "posix_spawnp", "system"):
        if hasattr(os, name):
            setattr(os, name, _counting(getattr(os, name)))
    return True


def spawn_count() -> int:
    """How many process-starting events this process has seen so far."""
    return _spawns[0]


def _start_site() -> str:
    frame = sys._getframe(2)
    # Skip Thread subclasses' own start() overrides and threading's internals.
    while frame.f_back is not None and (
        frame.f_code.co_name == "start" or frame.f_code.co_filename == threading.__file__
    ):
        frame = frame.f_back
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _record_start_site(start: Any) -> Any:
    @functools.wraps(start)
    def start_and_record(self: threading.Thread) -> None:
        with contextlib.suppress(Exception):  # a frozen or odd Thread subclass
            self._gridgate_started_at = _start_site()  # type: ignore[attr-defined]
        start(self)

    start_and_record._gridgate = True  # type: ignore[attr-defined]
    return start_and_record


def install() -> None:
    """Install the audit hook and the thread-start recorder, once per process."""
    if _installed[0]:
        return
    _installed[0] = True
    if hasattr(os, "register_at_fork") and _wrap_process_starters():
        os.register_at_fork(before=_count)
    else:
        sys.addaudithook(_audit)
    if not getattr(threading.Thread.start, "_gridgate", False):
        threading.Thread.start = _record_start_site(threading.Thread.start)  # type: ignore[method-assign]


def started_at(thread: threading.Thread) -> str | None:
    """Where ``thread`` was started (``file:line``), when it started after install()."""
    return getattr(thread, "_gridgate_started_at", None)
