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


class Leak:
    """One resource a test (or fixture) left behind.

    ``key`` identifies the resource across snapshots (a thread object's id, a pid with its
    start time, a variable name), so a resource a higher-scoped fixture created is
    recognised as the fixture's and not blamed on a test. ``pending`` marks leaks that may
    resolve on their own (a thread or process that is already ending): the grace period
    waits for those only. ``cleanup`` undoes the leak and returns whether it could.
    ``origin`` is where the resource was made (``file:line`` of the code that set the
    variable or started the thread), when the check knows it: the place to fix, and what
    groups many tests' findings of one cause. ``parent`` is the key of the resource that
    made this one (the thread that started a thread): a resource made by something a
    fixture owns belongs to that fixture. ``still_there``, for a pending leak: a cheap test
    of whether the resource is still there (a thread still running, a pid still the same
    process); the grace period polls it rather than comparing again (listing the children
    and describing each), and compares again only once none is still there.
    """

    # A plain class: a dataclass's generated methods would cost every run's start-up.
    __slots__ = (
        "cleanup",
        "detail",
        "key",
        "kind",
        "origin",
        "parent",
        "pending",
        "still_there",
    )

    def __init__(
        self,
        kind: str,
        key: Hashable,
        detail: str,
        pending: bool = False,
        cleanup: Callable[[], bool] | None = None,
        origin: str | None = None,
        parent: Hashable | None = None,
        still_there: Callable[[], bool] | None = None,
    ) -> None:
        self.kind = kind
        self.key = key
        self.detail = detail
        self.pending = pending
        self.cleanup = cleanup
        self.origin = origin
        self.parent = parent
        self.still_there = still_there

    def _identity(self) -> tuple[str, Hashable, str, bool]:
        return self.kind, self.key, self.detail, self.pending

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Leak):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        return f"Leak(kind={self.kind!r}, key={self.key!r}, detail={self.detail!r})"


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
    A check may also define ``baseline()`` (optional), used instead of ``snapshot()`` for
    the snapshot before each test: it may reuse what the last snapshot (after the previous
    test) saw, where only something between two tests could have changed it.
    """

    name: str

    def snapshot(self) -> Any: ...

    def compare(self, before: Any) -> list[Leak]: ...
