"""``environ``: variables a test added, changed or removed, and ``os.environ`` rebound.

The snapshot is a copy of ``os.environ``'s underlying bytes dictionary, taken again only
when ``os.putenv`` or ``os.unsetenv`` ran since the last one (they are counted by
:mod:`pytest_gridgate.leaks.tracking`) or ``os.environ`` was rebound: a test that changed
nothing costs no copy. Values are never decoded, and reports carry names only (values may
be secrets), with where each was last set or removed (the tracking wrappers know).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from fnmatch import fnmatchcase
from typing import Any

from pytest_gridgate._compat import environ_data
from pytest_gridgate.leaks.base import Leak
from pytest_gridgate.leaks.tracking import (
    PER_PHASE_VARIABLE,
    environ_change_count,
    environ_site,
)


def _restore(name: str, value: str | None) -> bool:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
    return True


def _rebind(environ: MutableMapping[str, str]) -> bool:
    os.environ = environ  # type: ignore[assignment]  # noqa: B003 - undoing a rebind
    return True


#: pytest's own per-phase variable is set and removed around every test phase.
KNOWN_VARIABLES = (PER_PHASE_VARIABLE,)


class EnvironCheck:
    name = "environ"

    def __init__(self, ignore: tuple[str, ...] = ()) -> None:
        self.ignore = KNOWN_VARIABLES + tuple(ignore)
        self._changes = -1
        self._environ: Any = None
        self._last: tuple[int, dict[Any, Any], Any] = (0, {}, None)

    def snapshot(self) -> tuple[int, dict[Any, Any], Any]:
        environ = os.environ
        changes = environ_change_count()
        if changes != self._changes or environ is not self._environ:
            self._changes, self._environ = changes, environ
            # The id first: a rebound os.environ with the same contents compares equal as
            # a mapping, and must still tell the snapshots apart.
            self._last = id(environ), environ_data(environ), environ
        return self._last

    def compare(self, before: Any) -> list[Leak]:
        _, data, environ = before
        current = os.environ
        if current is environ and getattr(current, "_data", None) == data:
            return []
        leaks = []
        if current is not environ:
            leaks.append(
                Leak(
                    "environ",
                    ("environ", None),
                    "os.environ rebound to a new object",
                    cleanup=lambda: _rebind(environ),
                )
            )
            return leaks  # the original mapping is untouched; restoring it is the fix
        now = environ_data(current)
        decode = os.fsdecode
        # The entries in one copy and not in the other, found in C: not a look-up of each of
        # the environment's variables in both (pexpect's suite: in each of 245 tests).
        changed = {raw for raw, _ in data.items() ^ now.items()}
        for raw in sorted(changed):
            old, new = data.get(raw), now.get(raw)
            name = decode(raw)
            if any(fnmatchcase(name, pattern) for pattern in self.ignore):
                continue
            change = "added" if old is None else "removed" if new is None else "changed"
            value = None if old is None else decode(old)
            leaks.append(
                Leak(
                    "environ",
                    ("environ", name),
                    f"{name} {change}",
                    cleanup=lambda name=name, value=value: _restore(name, value),  # type: ignore[misc]
                    origin=environ_site(raw),
                )
            )
        return leaks
