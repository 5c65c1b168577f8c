"""``[tool.gridgate.memory]``: the memory gate's settings (``pytest_gridgate.memory``)."""

from __future__ import annotations

from typing import Literal, NamedTuple

from pytest_gridgate.settings.declare import section
from pytest_gridgate.sizes import ByteSize


class MemorySettings(NamedTuple):
    """Sizes in bytes (``"512MB"``, ``"2GiB"`` in the file); 0 switches a limit off."""

    action: Literal["off", "warn", "fail"] = "fail"
    limit: ByteSize = ByteSize(2**30)
    process_limit: ByteSize = ByteSize(4 * 2**30)
    retained: ByteSize = ByteSize(256 * 2**20)


section(
    "memory",
    MemorySettings,
    doc="Per-test and per-process memory limits (`pytest_gridgate/memory/`).",
    keys={
        "action": ("", "", "what a test over its limit does"),
        "limit": ("[size](#sizes), 0 = off", '`"1GiB"`', "per-test peak"),
        "process_limit": ("[size](#sizes), 0 = off", '`"4GiB"`', "each pytest process's peak"),
        "retained": ("[size](#sizes), 0 = off", '`"256MiB"`', "memory a test keeps"),
    },
    options={"gridgate_memory": "action", "gridgate_memory_limit": "limit"},
)
