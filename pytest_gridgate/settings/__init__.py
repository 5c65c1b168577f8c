"""gridgate's configuration, ``[tool.gridgate]``: declared per gate, loaded once.

- :mod:`~pytest_gridgate.settings.declare`: how a gate declares its table (:func:`section`);
- one module per gate's table: ``collection``, ``timeouts``, ``leaks``, ``memory``,
  ``failures``, ``flaky``, ``quarantine``, ``shard``, ``scan``, ``history``;
  :mod:`~pytest_gridgate.settings.root` lists them;
- :mod:`~pytest_gridgate.settings.coerce`: values against the declarations, one-line
  :class:`ConfigError`s with a did-you-mean for unknown keys;
- :mod:`~pytest_gridgate.settings.loader`: the file, profiles and ``GRIDGATE_*``;
- :mod:`~pytest_gridgate.settings.reference`: ``docs/configuration.md``'s tables and
  ``docs/gridgate.schema.json``, generated (``python -m pytest_gridgate.settings.reference``).

Standard library only (no pytest): the scanner reads its settings from here. The pytest
side (options, loading once per run, ``get_config``) is :mod:`pytest_gridgate.config`.
"""

from __future__ import annotations

from pytest_gridgate.settings.coerce import ConfigError, env_name_problem
from pytest_gridgate.settings.collection import CollectionSettings
from pytest_gridgate.settings.declare import NumberRange, number_ranges, section
from pytest_gridgate.settings.failures import FAILURE_CATEGORIES, FailureSettings
from pytest_gridgate.settings.flaky import FlakySettings
from pytest_gridgate.settings.history import HistorySettings
from pytest_gridgate.settings.leaks import LEAK_CHECKS, LeakIgnores, LeakSettings
from pytest_gridgate.settings.loader import env_variable_names, find_config_file, load_config
from pytest_gridgate.settings.memory import MemorySettings
from pytest_gridgate.settings.quarantine import QuarantineSettings
from pytest_gridgate.settings.root import GridgateConfig
from pytest_gridgate.settings.scan import (
    ForbiddenCall,
    NotImplementedSettings,
    RequiredFinally,
    ScanSettings,
)
from pytest_gridgate.settings.shard import ShardSettings
from pytest_gridgate.settings.timeouts import TimeoutSettings

__all__ = [
    "FAILURE_CATEGORIES",
    "LEAK_CHECKS",
    "CollectionSettings",
    "ConfigError",
    "FailureSettings",
    "FlakySettings",
    "ForbiddenCall",
    "GridgateConfig",
    "HistorySettings",
    "LeakIgnores",
    "LeakSettings",
    "MemorySettings",
    "NotImplementedSettings",
    "NumberRange",
    "QuarantineSettings",
    "RequiredFinally",
    "ScanSettings",
    "ShardSettings",
    "TimeoutSettings",
    "env_name_problem",
    "env_variable_names",
    "find_config_file",
    "load_config",
    "number_ranges",
    "section",
]
