"""Loading ``[tool.gridgate]``: finding the file, profiles, ``GRIDGATE_*`` variables.

One typed, frozen :class:`~pytest_gridgate.settings.root.GridgateConfig` is built and
validated once. Sources, highest precedence first: command-line overrides, ``GRIDGATE_*``
environment variables, the file (``[tool.gridgate]`` in ``pyproject.toml`` or
``gridgate.yaml``), built-in defaults. A profile (``[tool.gridgate.profiles.NAME]``)
overlays the file's tables before validation. What each table holds is declared by its
gate (:mod:`pytest_gridgate.settings.declare`); checking values against it is
:mod:`pytest_gridgate.settings.coerce`. No pytest import: the scanner shares it.
"""

from __future__ import annotations

import copy
import os
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_gridgate.settings.coerce import (
    ConfigError,
    build,
    convert,
    describe,
    hints,
    is_settings,
)
from pytest_gridgate.settings.root import ENV_TABLES, NOT_SETTINGS, GridgateConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = ["env_variable_names", "find_config_file", "load_config"]

ENV_PREFIX = "GRIDGATE_"
# GRIDGATE_* variables that choose something about one run rather than set a key: which
# shard this machine runs (GRIDGATE_SHARD=K/N) is the CI matrix's, never the project's.
RUN_VARIABLES = frozenset({"GRIDGATE_SHARD"})
YAML_NAME = "gridgate.yaml"
PYPROJECT_NAME = "pyproject.toml"


# --------------------------------------------------------------------------- finding the file


def _read_pyproject_table(path: Path) -> dict[str, Any] | None:
    """The ``[tool.gridgate]`` table of a pyproject.toml, or None when it has none."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), "", f"cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "", f"invalid TOML: {exc}") from None
    tool = data.get("tool")
    if not isinstance(tool, dict) or "gridgate" not in tool:
        return None
    table = tool["gridgate"]
    if not isinstance(table, dict):
        raise ConfigError(str(path), "tool.gridgate", "must be a table")
    return table


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml  # only projects without a pyproject pay for the import

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), "", f"cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(str(path), "", f"{line}invalid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), "", "must be a mapping of gridgate keys")
    return data


def find_config_file(start: Path, *, upwards: bool = True) -> Path | None:
    """The nearest ``pyproject.toml`` with ``[tool.gridgate]``, else ``gridgate.yaml``.

    Looks in ``start`` and, when ``upwards``, in each parent; the first directory that has
    either wins, like ruff's search for ``[tool.ruff]``.
    """
    directory = start if start.is_dir() else start.parent
    for candidate in [directory, *directory.parents] if upwards else [directory]:
        pyproject = candidate / PYPROJECT_NAME
        if pyproject.is_file() and _read_pyproject_table(pyproject) is not None:
            return pyproject
        yaml_file = candidate / YAML_NAME
        if yaml_file.is_file():
            return yaml_file
    return None


def _read_file(path: Path) -> dict[str, Any]:
    if path.name == YAML_NAME or path.suffix in (".yaml", ".yml"):
        return _read_yaml(path)
    return _read_pyproject_table(path) or {}


def _overlay(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge tables; anything that is not a table is replaced whole."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _overlay(merged[key], value)
        else:
            merged[key] = value
    return merged


# --------------------------------------------------------------------------- environment


def _scalar_paths(cls: type[Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys of every scalar or list-of-scalar setting, with their annotations."""
    paths: dict[str, Any] = {}
    types_of = hints(cls)
    for name in cls._fields:
        if name in NOT_SETTINGS or name in ENV_TABLES:
            continue
        tp = types_of[name]
        key = f"{prefix}{name}"
        if is_settings(tp):
            paths.update(_scalar_paths(tp, key + "."))
        elif typing.get_origin(tp) is tuple and is_settings(typing.get_args(tp)[0]):
            continue
        elif typing.get_origin(tp) not in (Mapping, dict):
            paths[key] = tp
    return paths


def env_variable_names() -> dict[str, str]:
    """``GRIDGATE_*`` variable name -> dotted key it overrides."""
    return {
        ENV_PREFIX + key.upper().replace(".", "_"): key for key in _scalar_paths(GridgateConfig)
    }


def _parse_env_value(raw: str, tp: Any) -> Any:
    if typing.get_origin(tp) is tuple:
        return [part.strip() for part in raw.split(",") if part.strip()]
    if tp is bool:
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        return raw
    if tp in (int, float):
        try:
            return int(raw) if tp is int else float(raw)
        except ValueError:
            return raw
    return raw


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    for part in parents:
        child = data.get(part)
        if not isinstance(child, dict):
            child = {}
            data[part] = child
        data = child
    data[last] = value


# --------------------------------------------------------------------------- loading


def load_config(
    start: Path | None = None,
    *,
    file: Path | None = None,
    upwards: bool = True,
    profile: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> GridgateConfig:
    """Find, merge and validate the configuration.

    ``file`` names the config file explicitly; otherwise it is searched from ``start``
    (default: the current directory). ``overrides`` maps dotted keys to command-line values
    (already typed or strings). ``environ`` defaults to ``os.environ``; only ``GRIDGATE_*``
    names are read, and an unknown one is an error, since it is almost always a typo.
    """
    environ = os.environ if environ is None else environ
    path = file if file is not None else find_config_file(start or Path.cwd(), upwards=upwards)
    source = _display(path) if path is not None else "defaults"
    raw = _read_file(path) if path is not None else {}

    profiles_raw = raw.get("profiles", {})
    if not isinstance(profiles_raw, dict) or not all(
        isinstance(v, dict) for v in profiles_raw.values()
    ):
        raise ConfigError(source, "profiles", "expected a table of tables")
    build(GridgateConfig, raw, "", source)
    for name, table in profiles_raw.items():
        if "profile" in table or "profiles" in table:
            raise ConfigError(source, f"profiles.{name}", "a profile cannot choose a profile")
        # Validate every profile up front, so a typo in an unused profile is caught too.
        build(GridgateConfig, _overlay(raw, table), f"profiles.{name}", source)

    # Environment and command-line values are checked one by one, so an error names the
    # variable or option it came from rather than the file.
    scalars = _scalar_paths(GridgateConfig)
    env_names = env_variable_names()
    layered: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        key = env_names.get(name)
        if key is None and name in RUN_VARIABLES:
            continue
        if key is None:
            raise ConfigError(f"environment variable {name}", "", "unknown gridgate setting")
        parsed = _parse_env_value(value, scalars[key])
        convert(parsed, scalars[key], key, f"environment variable {name}")
        layered[key] = parsed
    for key, value in (overrides or {}).items():
        if key not in scalars:
            raise ConfigError("command line", key, "unknown gridgate setting")
        parsed = _parse_env_value(value, scalars[key]) if isinstance(value, str) else value
        convert(parsed, scalars[key], key, "command line")
        layered[key] = parsed

    chosen = profile or layered.pop("profile", None) or raw.get("profile") or "default"
    if not isinstance(chosen, str):
        raise ConfigError(source, "profile", f"expected a string, got {describe(chosen)}")
    if chosen != "default" and chosen not in profiles_raw:
        defined = ", ".join(sorted(profiles_raw)) or "none"
        raise ConfigError(source, "profile", f"unknown profile {chosen!r} (defined: {defined})")

    merged = copy.deepcopy(_overlay(raw, profiles_raw.get(chosen, {})))
    for key, value in layered.items():
        _set_dotted(merged, key, value)
    config: GridgateConfig = build(GridgateConfig, merged, "", source)
    return config._replace(
        profile=chosen, profiles=types.MappingProxyType(profiles_raw), source=path
    )


def _display(path: Path) -> str:
    """A path as a user would type it: relative to the current directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
