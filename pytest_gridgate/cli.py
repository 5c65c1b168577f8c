"""The ``gridgate`` command: a group of subcommands, each owning its own arguments."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

from pytest_gridgate import __version__

# name -> ("module:function", one-line help). Imported lazily: `gridgate scan` must not
# pay for pytest's import, and `gridgate init` must not pay for libcst's.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": (
        "pytest_gridgate.check:main",
        "run the whole gate (scanners and pytest) on a project",
    ),
    "scan": (
        "scanners.command:main",
        "scan Python sources and workflow YAML for gate-breaking patterns",
    ),
    "init": ("pytest_gridgate.init:main", "write the GitHub Actions workflow templates"),
    "merge": (
        "pytest_gridgate.merge:main",
        "check that shard reports make one whole run and merge them",
    ),
}

USAGE = "usage: gridgate [-h] [-V] {" + ",".join(COMMANDS) + "} ..."


def _help() -> str:
    lines = [USAGE, "", "commands:"]
    lines += [f"  {name:<8}{text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "options:", "  -h, --help     show this help and exit"]
    lines += ["  -V, --version  show the version and exit"]
    lines += ["", "Run 'gridgate COMMAND --help' for a command's options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # Like pytest and ruff: help asked for goes to stdout (exit 0); usage shown because
    # the command line is wrong goes to stderr (exit 2).
    if not args:
        print(f"{USAGE}\ngridgate: error: a command is required", file=sys.stderr)
        return 2
    if args[0] in ("-h", "--help"):
        print(_help())
        return 0
    if args[0] in ("-V", "--version"):
        print(f"gridgate {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        what = "option" if name.startswith("-") else "command"
        print(f"{USAGE}\ngridgate: error: unknown {what} {name!r}", file=sys.stderr)
        return 2
    module_name, _, function = COMMANDS[name][0].partition(":")
    command: Callable[[list[str]], int] = getattr(importlib.import_module(module_name), function)
    return command(rest)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
