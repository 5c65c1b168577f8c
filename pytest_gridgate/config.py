"""The configuration as pytest sees it: ``--gridgate-profile``, loading once per
``pytest.Config`` (before any conftest, so a bad file is exit 4 at once), ``get_config``
for every gate, and the settings in effect at the end of ``pytest --help``.

What the keys are is declared per gate in :mod:`pytest_gridgate.settings`; a gate's own
options stay in the gate's module and map onto keys through its declaration's ``options``.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_gridgate.settings import (
    ConfigError,
    GridgateConfig,
    find_config_file,
    load_config,
)
from pytest_gridgate.settings.declare import number_range, sections

_CONFIG_KEY = pytest.StashKey[GridgateConfig]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(
        "gridgate",
        "gridgate quality gate (on once installed, -p no:gridgate turns it off; "
        "the settings in effect are listed at the end of --help)",
    )
    group.addoption(
        "--gridgate-profile",
        metavar="NAME",
        help="configuration profile from [tool.gridgate.profiles] (env: GRIDGATE_PROFILE; "
        "default: the file's profile key, else none)",
    )


def _overrides(config: pytest.Config) -> dict[str, Any]:
    """Command-line values that map onto config keys, as each gate's settings declare."""
    mapping = {
        dest: f"{name}.{key}" if name else key
        for name, declared in sections().items()
        for dest, key in declared.options.items()
        if dest != "gridgate_profile"  # chooses the profile, see _load
    }
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


# pytest-timeout's own settings, which the timeouts gate builds on: the setting they stand
# for, and where each may come from (option dest, ini name, environment variable).
_TIMEOUT_PLUGIN_VALUES = (
    ("timeouts.default", "timeout", "--timeout", "timeout", "PYTEST_TIMEOUT"),
    ("timeouts.session", "session_timeout", "--session-timeout", "session_timeout", None),
)


def _check_timeout_plugin_values(config: pytest.Config) -> None:
    """pytest-timeout takes any float (NaN, infinity) and the gate's timers cannot: a bad
    value is a usage error naming where it came from, like a bad gridgate setting."""
    if not config.pluginmanager.has_plugin("timeout"):
        return
    for setting, dest, option, ini, variable in _TIMEOUT_PLUGIN_VALUES:
        sources = [
            (f"command line: {option}", getattr(config.known_args_namespace, dest, None)),
            (f"environment variable {variable}", os.environ.get(variable) if variable else None),
            (_ini_key(config, ini), config.getini(ini) or None),
        ]
        for where, value in sources:
            if value is None:
                continue
            allowed = number_range(setting)
            assert allowed is not None, setting
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise pytest.UsageError(
                    f"gridgate: {where}: expected a number of seconds, got {value!r}"
                ) from None
            if not allowed.admits(number):
                raise pytest.UsageError(f"gridgate: {where}: must be {allowed}, got {number:g}")


def _ini_key(config: pytest.Config, name: str) -> str:
    if config.inipath is None:
        return f"ini option {name}"  # from -o NAME=VALUE
    if config.inipath.name == "pyproject.toml":
        return f"{config.inipath.name}: tool.pytest.ini_options.{name}"
    return f"{config.inipath.name}: {name}"


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # Load (and validate) before any conftest is imported: a bad config is exit 4 at once.
    get_config(early_config)
    _check_timeout_plugin_values(early_config)


# --------------------------------------------------------------------------- pytest --help


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Generator[None, object, object]:
    result = yield
    # After pytest's help: the gates' settings as this project's configuration makes them
    # (installing the plugin changes every run; this is where a user looks for how).
    settings = config.stash.get(_CONFIG_KEY, None) if config.option.help else None
    if settings is not None:
        writer = config.get_terminal_writer()
        for line in settings_in_effect(settings):
            writer.line(line)
    return result


def settings_in_effect(settings: GridgateConfig) -> list[str]:
    """``pytest --help``'s closing lines: every setting the pytest gates use, as loaded
    (file, profile, ``GRIDGATE_*``); environment names only, never their values."""
    source = settings.source.name if settings.source is not None else "built-in defaults"
    lines = [
        "",
        f"gridgate settings in effect ({source}, profile {settings.profile!r}; "
        "set them in [tool.gridgate], see docs/configuration.md):",
    ]
    for name in ("env", "env_force"):
        names = sorted(getattr(settings, name))
        lines.append(f"  {name:<24}{', '.join(names) if names else '(none)'}")
    for table in settings._fields:
        value = getattr(settings, table)
        if table == "scan" or not isinstance(value, tuple) or not hasattr(value, "_fields"):
            continue  # the scanner's table, or not a table of settings
        for key, item in _flat(table, value):
            lines.append(f"  {key:<24}{item}")
    return lines


def _flat(prefix: str, table: Any) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for name in table._fields:
        value = getattr(table, name)
        key = f"{prefix}.{name}"
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            rows += _flat(key, value)
        elif isinstance(value, tuple):
            rows.append((key, ", ".join(map(str, value)) or "(none)"))
        elif isinstance(value, Mapping):
            shown = ", ".join(f"{k} = {_text(v, f'{key}.*')}" for k, v in value.items())
            rows.append((key, shown or "(none)"))
        else:
            rows.append((key, _text(value, key)))
    return rows


def _text(value: object, key: str) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    allowed = number_range(key)
    if allowed is not None and isinstance(value, (int, float)):
        if allowed.off and value == 0:
            return "0 (off)"
        return f"{value:g} s" if allowed.unit == "seconds" else f"{value:g}"
    return str(value)
