"""``[tool.gridgate.scan]``: the scanner's settings (``scanners``, which reads them here).

Kept in ``pytest_gridgate.settings`` rather than in ``scanners`` so that the pytest
plugin validates the whole file without importing the scanner, and the scanner depends on
the pytest-free settings package only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from pytest_gridgate.settings.declare import EMPTY, section


class ForbiddenCall(NamedTuple):
    call: str
    allow_in: tuple[str, ...] = ()
    message: str = ""


class RequiredFinally(NamedTuple):
    function: str
    call: str
    path: str = "**"


class NotImplementedSettings(NamedTuple):
    paths: tuple[str, ...] = ()


class ScanSettings(NamedTuple):
    paths: tuple[str, ...] = (".",)
    exclude: tuple[str, ...] = ()
    select: tuple[str, ...] = ("GG", "GW")
    ignore: tuple[str, ...] = ()
    per_file_ignores: Mapping[str, tuple[str, ...]] = EMPTY
    lazy_imports: tuple[str, ...] = ()
    forbidden_calls: tuple[ForbiddenCall, ...] = ()
    required_finally: tuple[RequiredFinally, ...] = ()
    not_implemented: NotImplementedSettings = NotImplementedSettings()
    scripts: tuple[str, ...] = ("scripts", "tools", "bin")  # GG004: directories of scripts


section(
    "scan.forbidden_calls[]",
    ForbiddenCall,
    doc="GG003: a call allowed only in some paths.",
    keys={
        "call": ("", "", "the dotted call"),
        "allow_in": ("list of globs", "", "where it is allowed"),
        "message": ("", "", "what the finding says"),
    },
)
section(
    "scan.required_finally[]",
    RequiredFinally,
    doc="GG007: a function that must call something in a `finally`.",
    keys={
        "function": ("", "", "the function"),
        "call": ("", "", "what its `finally` calls"),
        "path": ("glob", "", "where the function is"),
    },
)
section(
    "scan.not_implemented",
    NotImplementedSettings,
    doc="GG009.",
    keys={"paths": ("list of globs", "", "runtime paths")},
)
section(
    "scan",
    ScanSettings,
    doc="The source and workflow scanner (`gridgate scan`, `scanners/`).",
    keys={
        "paths": ("list of paths", "", "what to scan"),
        "exclude": ("list of globs", "", "what not to scan"),
        "select": ("list of rule codes or prefixes", "", "rules on"),
        "ignore": ("list of rule codes or prefixes", "", "rules off"),
        "per_file_ignores": ("table: glob → list of codes", "", "rules off per file"),
        "lazy_imports": ("list of module names", "", "GG010"),
        "forbidden_calls": ("array of tables (`call`, `allow_in`, `message`)", "", "GG003"),
        "required_finally": ("array of tables (`function`, `call`, `path`)", "", "GG007"),
        "scripts": ("list of globs", "", "GG004: directories of scripts"),
    },
)
