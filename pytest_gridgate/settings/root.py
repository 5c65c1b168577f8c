"""The root of ``[tool.gridgate]``: its own keys and one field per gate's table.

Each table is declared in the module of its gate's settings (``settings/leaks.py`` ...);
this class only lists them, as pytest's ``default_plugins`` lists its plugins, so that
``get_config(config).leaks`` stays typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from pytest_gridgate.settings.collection import CollectionSettings
from pytest_gridgate.settings.declare import EMPTY, section
from pytest_gridgate.settings.failures import FailureSettings
from pytest_gridgate.settings.flaky import FlakySettings
from pytest_gridgate.settings.history import HistorySettings
from pytest_gridgate.settings.leaks import LeakSettings
from pytest_gridgate.settings.memory import MemorySettings
from pytest_gridgate.settings.quarantine import QuarantineSettings
from pytest_gridgate.settings.scan import ScanSettings
from pytest_gridgate.settings.shard import ShardSettings
from pytest_gridgate.settings.timeouts import TimeoutSettings


class GridgateConfig(NamedTuple):
    """The validated configuration. ``source`` is the file it came from, if any."""

    profile: str = "default"
    env: Mapping[str, str] = EMPTY
    env_force: Mapping[str, str] = EMPTY
    collection: CollectionSettings = CollectionSettings()
    timeouts: TimeoutSettings = TimeoutSettings()
    leaks: LeakSettings = LeakSettings()
    memory: MemorySettings = MemorySettings()
    history: HistorySettings = HistorySettings()
    failures: FailureSettings = FailureSettings()
    flaky: FlakySettings = FlakySettings()
    quarantine: QuarantineSettings = QuarantineSettings()
    scan: ScanSettings = ScanSettings()
    shard: ShardSettings = ShardSettings()
    profiles: Mapping[str, Mapping[str, Any]] = EMPTY
    source: Path | None = None


# Keys of the root that are not a gate's table, and not simple values either.
ENV_TABLES = ("env", "env_force")
NOT_SETTINGS = ("source", "profiles")

section(
    "",
    GridgateConfig,
    doc="The root table.",
    keys={
        "profile": ("", "", "the profile overlaid on the file"),
        "env": ("table of strings", "`{}`", "set before conftest import unless already set"),
        "env_force": ("table of strings", "`{}`", "set before conftest import, always"),
        "profiles": ("table of tables", "`{}`", "named overlays of any of the tables"),
    },
    options={"gridgate_profile": "profile"},
)
