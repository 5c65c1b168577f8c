"""The interface every leak check implements (built-in or from ``pytest_gridgate_leak_checks``).

A check works in two tiers. ``snapshot()`` runs before every test and ``compare()`` after
it; both must be cheap (a few microseconds) when nothing changed, because they run for every
test of the suite. Only when the cheap tier sees a difference does ``compare()`` inspect
deeply (read ``/proc``, walk the garbage collector) to say exactly what leaked.

A :class:`Leak` carries its own ``cleanup``: the check knows how to undo what it found
(kill a process tree, restore a variable), and only what it found, so cleanup never touches
what the session owned before the test.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

#: Leak kinds of the JSON report (``design.md``), and the check name that allows each one
#: in ``gridgate_allow_leaks(...)``.
KIND_TO_CHECK = {
    "thread": "threads",
    "process": "processes",
    "zombie": "zombies",
    "fd": "fds",
    "socket": "fds",
    "environ": "environ",
    "cwd": "cwd",
    "signal": "signals",
    "asyncio": "asyncio",
    "atexit": "atexit",
}


@dataclass(frozen=True)
class Leak:
    """One resource a test (or fixture) left behind.

    ``key`` identifies the resource across snapshots (a thread object's id, a pid with its
    start time, a variable name), so a resource a higher-scoped fixture created is
    recognised as the fixture's and not blamed on a test. ``pending`` marks leaks that may
    resolve on their own (a thread or process that is already ending): the grace period
    waits for those only. ``cleanup`` undoes the leak and returns whether it could.
    """

    kind: str
    key: Hashable
    detail: str
    pending: bool = False
    cleanup: Callable[[], bool] | None = field(default=None, compare=False, repr=False)


@runtime_checkable
class LeakCheck(Protocol):
    """Take a cheap snapshot before a test, compare after it, describe what leaked.

    ``name`` is the name used in ``leaks.checks`` and in ``gridgate_allow_leaks(...)``.
    A check whose leaks can be ``pending`` also sets a class attribute ``may_pend = True``
    (optional): only such checks are polled during the grace period.
    ``compare(before)`` must not change anything: the caller decides about grace periods,
    reporting and cleanup (through :attr:`Leak.cleanup`).
    """

    name: str

    def snapshot(self) -> Any: ...

    def compare(self, before: Any) -> list[Leak]: ...
