"""``[tool.gridgate.quarantine]``: the quarantine gate's settings
(``pytest_gridgate.quarantine``)."""

from __future__ import annotations

from typing import NamedTuple

from pytest_gridgate.settings.declare import section


class QuarantineSettings(NamedTuple):
    file: str = ".gridgate/quarantine.toml"  # from the project root


section(
    "quarantine",
    QuarantineSettings,
    doc="Known-broken tests that still run, until a date (`pytest_gridgate/quarantine.py`).",
    keys={
        "file": (
            "path (from the project root; option `--gridgate-quarantine`, from the current "
            "directory)",
            '`".gridgate/quarantine.toml"`',
            "`[[test]]` tables of `nodeid`, `reason`, `until`",
        ),
    },
)
