"""``[tool.gridgate.shard]``: the shard gate's settings (``pytest_gridgate.shard``)."""

from __future__ import annotations

from typing import Literal, NamedTuple

from pytest_gridgate.settings.declare import section


class ShardSettings(NamedTuple):
    # "" means no durations file: shards are balanced by test count.
    durations: str = ""
    # "auto": a test using a module-scoped fixture stays with its module, one using a
    # class-scoped fixture with its class; any other test is a unit of its own.
    group: Literal["auto", "test", "module", "class"] = "auto"


section(
    "shard",
    ShardSettings,
    doc="Sharding (`pytest_gridgate/shard.py`); which shard runs is `--gridgate-shard`.",
    keys={
        "durations": (
            "path (from the project root; option `--gridgate-durations`, from the "
            "current directory)",
            '`""` (none: balance by count)',
            "per-test seconds that balance the shards",
        ),
        "group": ("", "", "which tests stay together on one shard"),
    },
)
