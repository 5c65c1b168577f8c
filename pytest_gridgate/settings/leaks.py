"""``[tool.gridgate.leaks]``: the leaks gate's settings (``pytest_gridgate.leaks``)."""

from __future__ import annotations

import typing
from typing import Literal, NamedTuple

from pytest_gridgate.settings.declare import NumberRange, section

LeakCheckName = Literal[
    "threads", "processes", "zombies", "fds", "environ", "cwd", "signals", "asyncio"
]
LEAK_CHECKS: tuple[LeakCheckName, ...] = typing.get_args(LeakCheckName)


class LeakIgnores(NamedTuple):
    """fnmatch patterns for things that are never reported as leaks."""

    threads: tuple[str, ...] = ()
    processes: tuple[str, ...] = ()
    environ: tuple[str, ...] = ()
    fds: tuple[str, ...] = ()  # what a descriptor points to: "/var/log/app.log", "pipe:*"


class LeakSettings(NamedTuple):
    action: Literal["off", "warn", "fail"] = "fail"
    checks: tuple[LeakCheckName, ...] = LEAK_CHECKS
    grace: float = 0.5
    kill: bool = True
    ignore: LeakIgnores = LeakIgnores()


section(
    "leaks.ignore",
    LeakIgnores,
    doc="Things never reported as leaks.",
    keys={
        "threads": ("list of fnmatch patterns", "", "thread names"),
        "processes": ("list of fnmatch patterns", "", "process command lines"),
        "environ": ("list of fnmatch patterns", "", "environment variable names"),
        "fds": (
            "list of fnmatch patterns of what a descriptor points to (`/var/log/app/*`, `pipe:*`)",
            "",
            "descriptors",
        ),
    },
)
section(
    "leaks",
    LeakSettings,
    doc="Per-test leak and zombie detection (`pytest_gridgate/leaks/`).",
    keys={
        "action": ("", "", "what a leaked resource does"),
        "checks": ("list of check names", "all eight", "the checks that run around each test"),
        "grace": ("", "", "how long threads and processes may take to finish"),
        "kill": ("", "", "kill leaked child processes after reporting them"),
    },
    ranges={"grace": NumberRange(0, 60, "seconds")},
    options={"gridgate_leaks": "action"},
)
