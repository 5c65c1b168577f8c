"""pytest side of the configuration: options, loading once, and access from every gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_gridgate.config import ConfigError, GridgateConfig, find_config_file, load_config

_CONFIG_KEY = pytest.StashKey[GridgateConfig]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gridgate", "gridgate quality gate")
    group.addoption(
        "--gridgate-profile",
        metavar="NAME",
        help="configuration profile from [tool.gridgate.profiles] (env: GRIDGATE_PROFILE)",
    )
    group.addoption(
        "--gridgate-leaks",
        choices=("off", "warn", "fail"),
        help="what a leaked resource does: off, warn or fail (config: leaks.action)",
    )


def _overrides(config: pytest.Config) -> dict[str, Any]:
    """Command-line values that map onto config keys; each gate adds its own options here."""
    mapping = {"gridgate_leaks": "leaks.action"}
    return {
        key: value
        for dest, key in mapping.items()
        if (value := getattr(config.known_args_namespace, dest, None)) is not None
    }


def _config_file(config: pytest.Config) -> Path | None:
    # pytest has already chosen rootdir and inifile; gridgate reads its table from the same
    # project, never from an unrelated pyproject further up.
    inipath = config.inipath
    if inipath is not None and inipath.name == "pyproject.toml":
        found = find_config_file(inipath.parent, upwards=False)
        if found is not None:
            return found
    return find_config_file(config.rootpath, upwards=False)


def _load(config: pytest.Config) -> GridgateConfig:
    try:
        return load_config(
            file=_config_file(config),
            profile=config.known_args_namespace.gridgate_profile,
            overrides=_overrides(config),
        )
    except ConfigError as exc:
        raise pytest.UsageError(f"gridgate: {exc}") from None


def get_config(config: pytest.Config) -> GridgateConfig:
    """The validated gridgate configuration for this pytest run, loaded on first use."""
    try:
        return config.stash[_CONFIG_KEY]
    except KeyError:
        loaded = config.stash[_CONFIG_KEY] = _load(config)
        return loaded


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # Load (and validate) before any conftest is imported: a bad config is exit 4 at once.
    get_config(early_config)
