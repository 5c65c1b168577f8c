"""The rule registry: built-in rules plus third-party ones from ``gridgate.rules``.

A third-party distribution registers a :class:`~scanners.rules.rule.Rule` subclass::

    [project.entry-points."gridgate.rules"]
    XY001 = "my_package.rules:NoPrint"

A plugin that fails to load, or whose code clashes with a built-in rule, is not fatal: it is
listed in ``LOAD_ERRORS`` (one line each) for the engine to report.

Entry points are loaded on first use, not on import: a plugin module imports
``scanners.rules`` itself, which must be complete by then.
"""

from __future__ import annotations

import functools
from importlib.metadata import entry_points

from scanners.rules.gg001_get_event_loop import GetEventLoop
from scanners.rules.gg002_run_until_complete import RunUntilComplete
from scanners.rules.gg003_forbidden_call import ForbiddenCall
from scanners.rules.gg004_exit_in_library import ExitInLibrary
from scanners.rules.gg005_subprocess_shell import SubprocessShell
from scanners.rules.gg006_unbounded_wait import UnboundedWait
from scanners.rules.gg007_required_finally import RequiredFinally
from scanners.rules.gg008_blocking_in_async import BlockingInAsync
from scanners.rules.gg009_not_implemented import NotImplementedInRuntime
from scanners.rules.gg010_eager_import import EagerImport
from scanners.rules.rule import Rule

ENTRY_POINT_GROUP = "gridgate.rules"

BUILTIN_RULES: tuple[type[Rule], ...] = (
    GetEventLoop,
    RunUntilComplete,
    ForbiddenCall,
    ExitInLibrary,
    SubprocessShell,
    UnboundedWait,
    RequiredFinally,
    BlockingInAsync,
    NotImplementedInRuntime,
    EagerImport,
)


def load_rules() -> tuple[dict[str, type[Rule]], list[str]]:
    """``(code -> rule class, load errors)``: built-ins first, then entry points by name."""
    rules: dict[str, type[Rule]] = {rule.code: rule for rule in BUILTIN_RULES}
    errors: list[str] = []
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            loaded = entry_point.load()
        except Exception as exc:  # a broken plugin must not break the scan
            errors.append(f"{ENTRY_POINT_GROUP} entry point {entry_point.name!r}: {exc!r}")
            continue
        if not (isinstance(loaded, type) and issubclass(loaded, Rule) and loaded.code):
            errors.append(
                f"{ENTRY_POINT_GROUP} entry point {entry_point.name!r}: "
                "not a Rule subclass with a code"
            )
            continue
        if loaded.code in rules:
            errors.append(
                f"{ENTRY_POINT_GROUP} entry point {entry_point.name!r}: "
                f"rule code {loaded.code} is already taken"
            )
            continue
        rules[loaded.code] = loaded
    return rules, errors


@functools.cache
def registry() -> tuple[dict[str, type[Rule]], list[str]]:
    """The loaded registry (once per process): ``(RULES, LOAD_ERRORS)``."""
    return load_rules()
