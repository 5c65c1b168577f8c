"""Which tests are known, so that the others are new and must prove themselves.

From ``--gridgate-known PATH``: a list of node ids, one a line (``#`` starts a comment), or
any durations file the shard gate reads (a JSON object of seconds per test, a list of
``{"nodeid", "seconds"}``, a gridgate report). Without it, from the shard gate's durations
file (``--gridgate-durations`` / ``shard.durations``), which a CI job writes with
``gridgate merge --durations`` anyway. Without either there is no history: no test is new.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_gridgate import partition
from pytest_gridgate.config import get_config


class KnownTests:
    """Node ids with a history, and where they came from (for the verdict)."""

    def __init__(self, nodeids: frozenset[str] | None, source: str) -> None:
        self.nodeids = nodeids
        self.source = source

    def is_new(self, nodeid: str) -> bool:
        return self.nodeids is not None and nodeid not in self.nodeids


def read_list(path: Path) -> frozenset[str]:
    """A known-tests file; a file that cannot be read is a usage error naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise pytest.UsageError(f"gridgate: --gridgate-known: cannot read {path}: {exc}") from None
    if text.lstrip().startswith(("{", "[")):
        try:
            return frozenset(partition.read_durations(path))
        except partition.DurationsError as exc:
            raise pytest.UsageError(f"gridgate: --gridgate-known: {exc}") from None
    nodeids = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return frozenset(n for n in nodeids if n)


def known_tests(config: pytest.Config) -> KnownTests:
    option = config.getoption("gridgate_known", None)
    if option:
        path = config.invocation_params.dir / option
        return KnownTests(read_list(path), str(option))
    # The shard gate's durations file, found as that gate finds it (its option is a path
    # from the current directory, its setting one from the project root); read here rather
    # than asked of the gate, so that neither gate imports the other.
    durations = config.getoption("gridgate_durations", None)
    setting = get_config(config).shard.durations
    if durations:
        path = config.invocation_params.dir / durations
    elif setting:
        path = config.rootpath / setting
    else:
        return KnownTests(None, "")
    try:
        return KnownTests(frozenset(partition.read_durations(path)), path.name)
    except partition.DurationsError:
        return KnownTests(None, "")  # the shard gate says why in its header line
