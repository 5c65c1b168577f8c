"""Process-wide bookkeeping that makes the per-test checks cheap.

* An audit hook counts the events that start a process (``subprocess.Popen``, ``os.fork``,
  ``os.posix_spawn``, ``os.system``, ...). A test whose count did not move started no
  process, so the process check reads ``/proc`` only after tests that did.
* ``threading.Thread.start`` records where each thread was started, so a leaked thread can
  be reported with its origin.

Both are process-wide by nature (an audit hook cannot be removed), so they live in this
module and are installed once per process, however many pytest sessions run in it
(pytester). Per-session state stays in the plugin object.
"""

from __future__ import annotations

import contextlib
import functools
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

# One mutable cell instead of a ``global`` statement keeps the hook a single lookup.
_spawns = [0]
_installed = [False]


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Runs for every audit event of the process (imports, opens, ...): keep it trivial.
    if event in _SPAWN_EVENTS:
        _spawns[0] += 1


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
    sys.addaudithook(_audit)
    if not getattr(threading.Thread.start, "_gridgate", False):
        threading.Thread.start = _record_start_site(threading.Thread.start)  # type: ignore[method-assign]


def started_at(thread: threading.Thread) -> str | None:
    """Where ``thread`` was started (``file:line``), when it started after install()."""
    return getattr(thread, "_gridgate_started_at", None)
