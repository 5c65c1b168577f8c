"""The interface every leak check implements (built-in or from ``pytest_gridgate_leak_checks``).

A check works in two tiers. ``snapshot()`` runs before and after every test and must be
cheap (a microsecond or two): when the two snapshots are equal, nothing leaked, and that is
the whole cost of nearly every test. Only when a snapshot differs is ``compare(before)``
called, to inspect deeply (read ``/proc``, walk the garbage collector) and say exactly what
leaked; it is then called for every check, so it too returns ``[]`` cheaply when its own
resources did not change.

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
    """Take a cheap snapshot before and after a test; when they differ, describe what leaked.

    Snapshots must compare equal (``==``) exactly when nothing the check watches changed:
    a snapshot that never equals the next one sends every test the slow way.
    ``name`` is the name used in ``leaks.checks`` and in ``gridgate_allow_leaks(...)``.
    A check whose leaks can be ``pending`` also sets a class attribute ``may_pend = True``
    (optional): only such checks are polled during the grace period.
    ``compare(before)`` must not change anything: the caller decides about grace periods,
    reporting and cleanup (through :attr:`Leak.cleanup`).
    """

    name: str

    def snapshot(self) -> Any: ...

    def compare(self, before: Any) -> list[Leak]: ...
