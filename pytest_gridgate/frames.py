"""Where a stack is: which test or collector it belongs to (pytest's own frames, walked
outwards), the innermost frame in the project's own code, the phase, and what an event
loop's tasks are awaiting.

Shared by the gates that must name what was running when the process was interrupted
from outside the test (the timeouts gate's stage one and two, ``os._exit`` caught by
hard_exit). Read from the test's own thread (a signal handler) or from another (the
watchdog thread).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import pytest

from pytest_gridgate import _compat

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "awaiting",
    "collector_of",
    "describe",
    "item_of",
    "phase_of",
    "thread_frame",
    "where_stuck",
]


def item_of(frame: FrameType | None) -> pytest.Item | None:
    """The test being run: the ``item`` of pytest's ``runtestprotocol`` on the stack."""
    while frame is not None:
        candidate = frame.f_locals.get("item")
        if isinstance(candidate, pytest.Item):
            return candidate
        frame = frame.f_back
    return None


def collector_of(frame: FrameType | None, default: str) -> str:
    """The node id of the collector collecting on the stack, else ``default``."""
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, pytest.Collector):
            return candidate.nodeid
        frame = frame.f_back
    return default


def _frames(frame: FrameType | None) -> Iterator[FrameType]:
    while frame is not None:
        yield frame
        frame = frame.f_back


def _is_project(filename: str, root: str) -> bool:
    return (
        filename.startswith(root)
        and "site-packages" not in filename
        and f"{os.sep}_pytest{os.sep}" not in filename
        and f"{os.sep}pytest_gridgate{os.sep}" not in filename
    )


def describe(frame: FrameType, root: Path) -> str:
    return f"{_relative(frame.f_code.co_filename, root)}:{frame.f_lineno} in {frame.f_code.co_name}"


def _relative(filename: str, root: Path) -> str:
    try:
        return Path(filename).relative_to(root).as_posix()
    except ValueError:
        return filename


def where_stuck(frame: FrameType | None, root: Path) -> str | None:
    """The innermost frame in the project's own code (not pytest, not site-packages)."""
    fallback = None
    for f in _frames(frame):
        if _is_project(f.f_code.co_filename, str(root)):
            return describe(f, root)
        fallback = fallback or f
    return describe(fallback, root) if fallback is not None else None


def phase_of(frame: FrameType | None) -> str | None:
    """setup, call or teardown: read from pytest's ``call_and_report`` frame on the stack."""
    for f in _frames(frame):
        if f.f_code.co_name == "call_and_report" and "when" in f.f_locals:
            return str(f.f_locals["when"])
    return None


def awaiting(frame: FrameType | None, root: Path, *, own_thread: bool) -> list[str]:
    """Lines that the event loop's pending tasks are awaiting (innermost coroutine).

    Works from the loop's own thread (the SIGALRM handler) and from another thread (the
    watchdog), where the loop is found as ``self`` of its ``run_forever`` frame.
    """
    aio = sys.modules.get("asyncio")
    if aio is None:  # not imported: no event loop can be running
        return []
    loop: asyncio.AbstractEventLoop | None = None
    if own_thread:
        loop = _compat.running_loop()
    if loop is None:
        for f in _frames(frame):
            candidate = f.f_locals.get("self")
            if isinstance(candidate, aio.AbstractEventLoop):
                loop = candidate
                break
    if loop is None:
        return []
    lines = []
    try:
        tasks = list(aio.all_tasks(loop))
    except RuntimeError:
        return []
    for task in tasks:
        stack = _coroutine_frames(task.get_coro())
        own = [f for f in stack if _is_project(f.f_code.co_filename, str(root))]
        if own or stack:
            lines.append(f"{task.get_name()} awaiting at {describe((own or stack)[-1], root)}")
    return lines


def _coroutine_frames(coro: Any) -> list[FrameType]:
    """The frames of a suspended coroutine and of everything it awaits, outermost first.

    ``Task.get_stack()`` stops at the task's own coroutine; the line that hangs is usually
    further in, down the ``cr_await`` chain.
    """
    frames = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            frames.append(frame)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return frames


def thread_frame(thread_id: int) -> FrameType | None:
    return sys._current_frames().get(thread_id)
