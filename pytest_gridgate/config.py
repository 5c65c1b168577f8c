"""The ``[tool.gridgate]`` configuration, shared by the pytest plugin and the scanner.

One typed, frozen :class:`GridgateConfig` is built and validated once. Sources, highest
precedence first: command-line overrides, ``GRIDGATE_*`` environment variables, the file
(``[tool.gridgate]`` in ``pyproject.toml`` or ``gridgate.yaml``), built-in defaults. A
profile (``[tool.gridgate.profiles.NAME]``) overlays the file's tables before validation.

Every problem is a :class:`ConfigError` whose message is one line naming the file and the
dotted key; this module never lets a traceback reach the user. It does not import pytest,
so the scanner's start-up stays cheap.
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pytest_gridgate.sizes import ByteSize, parse_size

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "FAILURE_CATEGORIES",
    "LEAK_CHECKS",
    "NUMBER_RANGES",
    "CollectionSettings",
    "ConfigError",
    "FailureSettings",
    "FlakySettings",
    "ForbiddenCall",
    "GridgateConfig",
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
]

ENV_PREFIX = "GRIDGATE_"
# GRIDGATE_* variables that choose something about one run rather than set a key: which
# shard this machine runs (GRIDGATE_SHARD=K/N) is the CI matrix's, never the project's.
RUN_VARIABLES = frozenset({"GRIDGATE_SHARD"})
YAML_NAME = "gridgate.yaml"
PYPROJECT_NAME = "pyproject.toml"

LeakCheckName = Literal[
    "threads", "processes", "zombies", "fds", "environ", "cwd", "signals", "asyncio"
]
LEAK_CHECKS: tuple[LeakCheckName, ...] = typing.get_args(LeakCheckName)


class ConfigError(Exception):
    """A configuration problem: the message is one line naming the source and the key."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")


# The settings classes are NamedTuples: immutable and typed like frozen dataclasses, but
# about five times cheaper to define, which every pytest run pays for at start-up. Every
# number in the configuration is a count or a duration within its NUMBER_RANGES entry (see
# _convert); tables default to one shared, read-only empty mapping.
_EMPTY: Mapping[str, Any] = types.MappingProxyType({})


class NumberRange(NamedTuple):
    """The values a number in the configuration may take: finite, from ``low`` to ``high``
    (inclusive), and also exactly 0 where ``off`` (0 switches the setting off)."""

    low: float
    high: float
    unit: str = ""
    off: bool = False

    def admits(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False  # NaN compares false with everything: it must be named
        return self.low <= value <= self.high or (self.off and value == 0)

    def __str__(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        span = f"from {_number(self.low)} to {_number(self.high)}{unit}"
        return f"0 (off) or {span}" if self.off else span


DAY = 86400.0
# Dotted key (``*``: any key of a table) -> the values it may take; documented in
# docs/configuration.md, where a test checks this table against the page. NaN, infinities
# and huge values would hang a run or overflow a timer (``setitimer`` takes a time_t), so
# every number has a finite bound. A number not listed must be finite and not negative.
# A duration that is not 0 is at least a millisecond: smaller ones round to 0 in a timer,
# which would silently mean "no timeout".
NUMBER_RANGES: Mapping[str, NumberRange] = types.MappingProxyType(
    {
        "collection.min_tests": NumberRange(0, 1_000_000_000),
        "timeouts.default": NumberRange(0.001, DAY, "seconds", off=True),
        "timeouts.markers.*": NumberRange(0.001, DAY, "seconds", off=True),
        "timeouts.session": NumberRange(0.001, 7 * DAY, "seconds", off=True),
        "timeouts.collection": NumberRange(0.001, DAY, "seconds", off=True),
        "timeouts.kill_after": NumberRange(0, 3600, "seconds"),
        "leaks.grace": NumberRange(0, 60, "seconds"),
        # failures / flaky / quarantine (issue 18)
        "flaky.reruns": NumberRange(0, 10),
        "flaky.max_rate": NumberRange(0, 1),
        "flaky.new_test_runs": NumberRange(0, 100),
        "flaky.new_test_budget": NumberRange(0.001, DAY, "seconds", off=True),
    }
)
_ANY_NUMBER = NumberRange(0, sys.float_info.max)


def _number(value: float) -> str:
    """A number as a message shows it: ``nan``, ``inf``, ``1e+10``, ``86400``."""
    if isinstance(value, int) and abs(value) >= 2**63:
        return "a number over 2**63"  # str() of a huge int is slow, or refused
    return f"{value:g}" if isinstance(value, float) else str(value)


class CollectionSettings(NamedTuple):
    min_tests: int = 1


class TimeoutSettings(NamedTuple):
    default: float = 60.0
    markers: Mapping[str, float] = _EMPTY
    session: float = 1800.0
    collection: float = 300.0
    kill_after: float = 5.0


class LeakIgnores(NamedTuple):
    """fnmatch patterns for things that are never reported as leaks."""

    threads: tuple[str, ...] = ()
    processes: tuple[str, ...] = ()
    environ: tuple[str, ...] = ()
    fds: tuple[str, ...] = ()  # what a descriptor points to: "/var/log/app.log", "pipe:*"


class LeakSettings(NamedTuple):
    action: Literal["off", "warn", "fail"] = "fail"
    checks: tuple[LeakCheckName, ...] = LEAK_CHECKS
    grace: float = 0.5
    kill: bool = True
    ignore: LeakIgnores = LeakIgnores()


class ShardSettings(NamedTuple):
    # "" means no durations file: shards are balanced by test count.
    durations: str = ""
    # "auto": a test using a module-scoped fixture stays with its module, one using a
    # class-scoped fixture with its class; any other test is a unit of its own.
    group: Literal["auto", "test", "module", "class"] = "auto"


class MemorySettings(NamedTuple):
    """Sizes in bytes (``"512MB"``, ``"2GiB"`` in the file); 0 switches a limit off."""

    action: Literal["off", "warn", "fail"] = "fail"
    limit: ByteSize = ByteSize(2**30)
    process_limit: ByteSize = ByteSize(4 * 2**30)
    retained: ByteSize = ByteSize(256 * 2**20)


# --------------------------------------------------------------------------- failures, flaky,
# quarantine (issue 18). One self-contained block, so it moves to its gates' own settings
# modules as it is.

FailureCategory = Literal[
    "assertion",
    "exception",
    "setup",
    "teardown",
    "timeout",
    "leak",
    "memory",
    "crash",
    "collection",
    "infra",
]
FAILURE_CATEGORIES: tuple[FailureCategory, ...] = typing.get_args(FailureCategory)

# Regular expressions searched in "Type: message" of a failure's exception, of each class it
# derives from and of the exceptions it was raised from (see pytest_gridgate/failures.py).
DEFAULT_INFRA: tuple[str, ...] = (
    r"^(ConnectionRefusedError|ConnectionResetError|ConnectionAbortedError)\b",
    r"Connection refused|Connection reset by peer",
    r"^(socket\.)?gaierror\b|Name or service not known|Temporary failure in name resolution"
    r"|nodename nor servname provided",
    r"Address already in use|EADDRINUSE",
    r"No space left on device|ENOSPC|Disk quota exceeded",
)


class FailureSettings(NamedTuple):
    infra: tuple[str, ...] = DEFAULT_INFRA


class FlakySettings(NamedTuple):
    reruns: int = 0
    # Not collection (nothing to run again), leak and memory (a rerun would hide a real
    # defect behind a clean attempt), crash (the process is gone; see docs/failures.md).
    rerun_categories: tuple[FailureCategory, ...] = (
        "assertion",
        "exception",
        "setup",
        "teardown",
        "timeout",
        "infra",
    )
    max_rate: float = 0.05
    action: Literal["warn", "fail"] = "warn"
    new_test_runs: int = 0
    new_test_budget: float = 300.0


class QuarantineSettings(NamedTuple):
    file: str = ".gridgate/quarantine.toml"  # from the project root


class ForbiddenCall(NamedTuple):
    call: str
    allow_in: tuple[str, ...] = ()
    message: str = ""


class RequiredFinally(NamedTuple):
    function: str
    call: str
    path: str = "**"


class NotImplementedSettings(NamedTuple):
    paths: tuple[str, ...] = ()


class ScanSettings(NamedTuple):
    paths: tuple[str, ...] = (".",)
    exclude: tuple[str, ...] = ()
    select: tuple[str, ...] = ("GG", "GW")
    ignore: tuple[str, ...] = ()
    per_file_ignores: Mapping[str, tuple[str, ...]] = _EMPTY
    lazy_imports: tuple[str, ...] = ()
    forbidden_calls: tuple[ForbiddenCall, ...] = ()
    required_finally: tuple[RequiredFinally, ...] = ()
    not_implemented: NotImplementedSettings = NotImplementedSettings()
    scripts: tuple[str, ...] = ("scripts", "tools", "bin")  # GG004: directories of scripts


class GridgateConfig(NamedTuple):
    """The validated configuration. ``source`` is the file it came from, if any."""

    profile: str = "default"
    env: Mapping[str, str] = _EMPTY
    env_force: Mapping[str, str] = _EMPTY
    collection: CollectionSettings = CollectionSettings()
    timeouts: TimeoutSettings = TimeoutSettings()
    leaks: LeakSettings = LeakSettings()
    memory: MemorySettings = MemorySettings()
    failures: FailureSettings = FailureSettings()
    flaky: FlakySettings = FlakySettings()
    quarantine: QuarantineSettings = QuarantineSettings()
    scan: ScanSettings = ScanSettings()
    shard: ShardSettings = ShardSettings()
    profiles: Mapping[str, Mapping[str, Any]] = _EMPTY
    source: Path | None = None


def _is_settings(tp: Any) -> bool:
    """Whether an annotation is one of the settings classes above (a table of keys)."""
    return isinstance(tp, type) and issubclass(tp, tuple) and hasattr(tp, "_fields")


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


# --------------------------------------------------------------------------- validation


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is float:
        return "a number"
    if tp is int:
        return "an integer"
    if tp is bool:
        return "true or false"
    if tp is ByteSize:
        return "a size like '512MB', '2GiB' or a number of bytes"
    if tp is str:
        return "a string"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (tuple, Sequence, list):
        return f"a list of {_type_name(typing.get_args(tp)[0]).removeprefix('a ')}s"
    if origin in (Mapping, dict):
        return "a table"
    if _is_settings(tp):
        return "a table"
    return str(tp)


def _describe(value: Any) -> str:
    kind = {bool: "boolean", int: "integer", float: "number", str: "string"}.get(type(value))
    if kind is None:
        kind = "table" if isinstance(value, dict) else "list" if isinstance(value, list) else ""
        return kind or type(value).__name__
    return f"{kind} {value!r}"


def _convert(value: Any, tp: Any, key: str, source: str, path: str | None = None) -> Any:
    """Check ``value`` against the annotation ``tp`` and return the typed value.

    ``key`` is what the error names (``profiles.ci.timeouts.default``); ``path`` the
    setting it is (``timeouts.default``), for :data:`NUMBER_RANGES`.
    """
    path = key if path is None else path

    def wrong() -> ConfigError:
        return ConfigError(source, key, f"expected {_type_name(tp)}, got {_describe(value)}")

    origin = typing.get_origin(tp)
    if _is_settings(tp):
        if not isinstance(value, dict):
            raise wrong()
        return _build(tp, value, key, source, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise wrong()
        return value
    if tp is ByteSize:
        try:
            return parse_size(value)
        except ValueError as exc:
            raise ConfigError(source, key, str(exc)) from None
    if tp is int or tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float) if tp is float else int):
            raise wrong()
        allowed = NUMBER_RANGES.get(path, _ANY_NUMBER)
        if not allowed.admits(value):
            raise ConfigError(source, key, f"must be {allowed}, got {_number(value)}")
        return float(value) if tp is float else value
    if tp is str:
        if not isinstance(value, str):
            raise wrong()
        return value
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise wrong()
        return value
    if origin is tuple:
        item_type = typing.get_args(tp)[0]
        if isinstance(value, str) or not isinstance(value, list):
            raise wrong()
        return tuple(
            _convert(v, item_type, f"{key}[{i}]", source, f"{path}[]") for i, v in enumerate(value)
        )
    if origin in (Mapping, dict):
        _, value_type = typing.get_args(tp)
        if not isinstance(value, dict):
            raise wrong()
        return types.MappingProxyType(
            {
                str(k): _convert(v, value_type, f"{key}.{k}", source, f"{path}.*")
                for k, v in value.items()
            }
        )
    if isinstance(tp, types.UnionType) or origin is typing.Union:  # pragma: no cover
        raise TypeError(f"unsupported annotation {tp!r}")
    raise TypeError(f"unsupported annotation {tp!r}")  # pragma: no cover - a bug, not input


_ENV_VALUE_TYPES = (str, int, float)


def env_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an environment variable's name (``os.environ`` would raise),
    or None when it can."""
    if not name:
        return "an environment variable needs a name"
    if "=" in name:
        return "an environment variable's name cannot contain '='"
    if "\0" in name:
        return "an environment variable's name cannot contain a NUL character"
    return None


def _env_key(key: str, name: str) -> str:
    # The key as TOML would spell it: quoted when it is not a bare key (``env."A=B"``,
    # ``env.""``), so the message stays one line and shows what is wrong with the name.
    bare = name and all(c.isascii() and (c.isalnum() or c in "_-") for c in name)
    return f"{key}.{name}" if bare else f"{key}.{json.dumps(name)}"


def _env_table(value: Any, key: str, source: str) -> Mapping[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(source, key, f"expected a table, got {_describe(value)}")
    result: dict[str, str] = {}
    for name, item in value.items():
        name = str(name)
        problem = env_name_problem(name)
        if problem is not None:
            raise ConfigError(source, _env_key(key, name), problem)
        # Numbers are written unquoted often enough (PORT = 5432) to accept them.
        if isinstance(item, bool) or not isinstance(item, _ENV_VALUE_TYPES):
            raise ConfigError(source, _env_key(key, name), "expected a string")
        text = str(item)
        if "\0" in text:  # the value itself is never shown: values may be secrets
            raise ConfigError(source, _env_key(key, name), "the value contains a NUL character")
        result[name] = text
    return types.MappingProxyType(result)


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    # Resolving string annotations is the costliest step of a load: once per class (a
    # cache of a pure function of the class, not per-run state).
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _build(
    cls: type[Any], data: Mapping[str, Any], prefix: str, source: str, path: str = ""
) -> Any:
    """``prefix``: the dotted key of ``data`` as errors name it; ``path``: the setting it
    is, without a ``profiles.NAME`` in front (see :func:`_convert`)."""
    hints = _hints(cls)
    fields = [name for name in cls._fields if name != "source"]
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if cls is GridgateConfig and name == "profiles":
            continue  # validated by load_config, profile by profile
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(source, key, f"unknown key (known keys: {known})")
        if cls is GridgateConfig and name in ("env", "env_force"):
            kwargs[name] = _env_table(value, key, source)
            continue
        setting = f"{path}.{name}" if path else str(name)
        kwargs[name] = _convert(value, hints[name], key, source, setting)
    missing = [name for name in fields if name not in kwargs and name not in cls._field_defaults]
    if missing:
        raise ConfigError(source, f"{prefix}.{missing[0]}" if prefix else missing[0], "missing")
    return cls(**kwargs)


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
    hints = _hints(cls)
    for name in cls._fields:
        if name in ("source", "profiles", "env", "env_force"):
            continue
        tp = hints[name]
        key = f"{prefix}{name}"
        if _is_settings(tp):
            paths.update(_scalar_paths(tp, key + "."))
        elif typing.get_origin(tp) is tuple and _is_settings(typing.get_args(tp)[0]):
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
    _build(GridgateConfig, raw, "", source)
    for name, table in profiles_raw.items():
        if "profile" in table or "profiles" in table:
            raise ConfigError(source, f"profiles.{name}", "a profile cannot choose a profile")
        # Validate every profile up front, so a typo in an unused profile is caught too.
        _build(GridgateConfig, _overlay(raw, table), f"profiles.{name}", source)

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
        _convert(parsed, scalars[key], key, f"environment variable {name}")
        layered[key] = parsed
    for key, value in (overrides or {}).items():
        if key not in scalars:
            raise ConfigError("command line", key, "unknown gridgate setting")
        parsed = _parse_env_value(value, scalars[key]) if isinstance(value, str) else value
        _convert(parsed, scalars[key], key, "command line")
        layered[key] = parsed

    chosen = profile or layered.pop("profile", None) or raw.get("profile") or "default"
    if not isinstance(chosen, str):
        raise ConfigError(source, "profile", f"expected a string, got {_describe(chosen)}")
    if chosen != "default" and chosen not in profiles_raw:
        defined = ", ".join(sorted(profiles_raw)) or "none"
        raise ConfigError(source, "profile", f"unknown profile {chosen!r} (defined: {defined})")

    merged = copy.deepcopy(_overlay(raw, profiles_raw.get(chosen, {})))
    for key, value in layered.items():
        _set_dotted(merged, key, value)
    config: GridgateConfig = _build(GridgateConfig, merged, "", source)
    return config._replace(
        profile=chosen, profiles=types.MappingProxyType(profiles_raw), source=path
    )


def _display(path: Path) -> str:
    """A path as a user would type it: relative to the current directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
