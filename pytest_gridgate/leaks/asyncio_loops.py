"""``asyncio``: event loops left set as current (open or closed) and their pending tasks.

Read without creating anything: ``asyncio.get_event_loop()`` would create a loop (and warn);
the policy's thread-local slot is read directly, and only when asyncio is imported at all.
Loops that were left open without being set as current are found by the ``fds`` check
(their epoll descriptor) and reported there with kind ``asyncio``.
"""

from __future__ import annotations

from typing import Any

from pytest_gridgate._compat import current_event_loop as current_loop
from pytest_gridgate.leaks.base import Leak


def _pending_tasks(loop: Any) -> list[str]:
    import asyncio

    try:
        tasks = asyncio.all_tasks(loop)
    except RuntimeError:  # pragma: no cover - the task set changed while we iterated
        return []
    return sorted(task.get_name() for task in tasks if not task.done())


def _reset(loop: Any, previous: Any) -> bool:
    import asyncio

    if not loop.is_closed():
        if loop.is_running():
            return False
        loop.close()
    asyncio.set_event_loop(previous if previous is not None and not previous.is_closed() else None)
    return True


class AsyncioCheck:
    name = "asyncio"

    snapshot = staticmethod(current_loop)  # one call per test, not two

    def compare(self, before: Any) -> list[Leak]:
        loop = current_loop()
        if loop is before or loop is None:
            return []
        if loop.is_closed():
            detail = f"closed event loop {type(loop).__name__} left set as current"
        else:
            tasks = _pending_tasks(loop)
            pending = f", {len(tasks)} pending task(s): {', '.join(tasks[:5])}" if tasks else ""
            detail = f"event loop {type(loop).__name__} left open and set as current{pending}"
        return [Leak("asyncio", ("loop", id(loop)), detail, cleanup=lambda: _reset(loop, before))]
