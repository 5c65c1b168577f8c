"""Python source rules GG001-GG010 and the interface the engine calls.

Interface used by the engine (``scanners/engine.py``)::

    check_python(path: str, source: bytes, settings: ScanSettings,
                 selected: Callable[[str], bool]) -> list[Finding]

``path`` is the file's path as findings report it (``/``-separated, relative to the current
directory); the file system is consulted only to find the file's package (walking up
``__init__.py``) for relative imports. ``selected(code)`` says whether a rule code is enabled
(select/ignore/per-file ignores are the engine's business). Suppression comments are applied
by the engine, not by rules. Findings come back sorted by position; each has 1-based
``line``/``column`` (characters), ``end_line``/``end_column``, ``fixable``, and ``source``:
the matched code with whitespace runs collapsed to one space (``sys.exit(1)``; GG007 uses
``def ToolRunner.run``), which the baseline keys on.

Raises :class:`scanners.finding.ParseFailure` (message, line, column) when the file cannot be
decoded (PEP 263 cookies and BOMs are honoured) or parsed, or the parser gives up on deep
nesting (RecursionError, MemoryError). The syntax of a file is only checked when it has to
be parsed for a selected rule, or when ``selected("GG000")``; so under ``--select GG001`` a
broken file that never mentions ``get_event_loop`` is not read past its bytes.

    fix_python(path: str, source: bytes, settings: ScanSettings,
               selected: Callable[[str], bool] = ...) -> bytes | None

returns the fixed source (``--fix``: every replacement the selected rules reported, e.g.
GG001 inside ``async def``), or None when nothing is fixable. The fixed source is re-parsed
and re-checked before it is returned. Raises :class:`ParseFailure` like ``check_python``
(never touch such a file).

    allow_in_matches(path: str, settings: ScanSettings) -> frozenset[tuple[int, str]]

the ``(index into settings.forbidden_calls, glob)`` pairs of ``allow_in`` entries that match
``path``. It depends on the path only (not on the content, so cached files need it too): the
engine unions it over every discovered Python file and reports each ``allow_in`` entry of
``settings.forbidden_calls`` that never matched as stale (file: the config file; key:
``scan.forbidden_calls[i].allow_in``).

    RULES: dict[str, type[Rule]]   # code -> rule class, built-ins and ``gridgate.rules``
    LOAD_ERRORS: list[str]         # one line per third-party rule that failed to load

Both are loaded on first access (entry-point modules import ``scanners.rules`` themselves).

Each rule class has ``code``, ``name``, ``fixable``, a docstring (what, why, example, fix),
and ``VALID``/``INVALID`` examples run by the tests; ``docs/rules.md`` is generated from
them (``python -m scanners.docs``).

Globs (``allow_in``, ``required_finally.path``, ``not_implemented.paths``) are matched
against the ``/``-separated path and against every suffix of it that starts at a directory
boundary, so ``src/app/runtime/**`` matches both ``src/app/runtime/x.py`` and
``examples/src/app/runtime/x.py``: the scanner may be run from the project or above it.
``**`` matches any number of directories, ``*`` and ``?`` stay inside one.
"""

from __future__ import annotations

from typing import Any

from scanners.rules.checker import allow_in_matches, check_python
from scanners.rules.declaration import Argument
from scanners.rules.fixer import fix_python
from scanners.rules.registry import registry
from scanners.rules.rule import Context, Example, Rule, Violation

RULES: dict[str, type[Rule]]
LOAD_ERRORS: list[str]


def __getattr__(name: str) -> Any:
    # RULES and LOAD_ERRORS load the `gridgate.rules` entry points on first access.
    if name == "RULES":
        return registry()[0]
    if name == "LOAD_ERRORS":
        return registry()[1]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "LOAD_ERRORS",
    "RULES",
    "Argument",
    "Context",
    "Example",
    "Rule",
    "Violation",
    "allow_in_matches",
    "check_python",
    "fix_python",
]
