"""Checking raw TOML/YAML values against a declared settings class.

The annotations of the settings ``NamedTuple``s are the schema: :func:`build` walks them,
turns each value into its type, checks numbers against their declared range, and raises a
one-line :class:`ConfigError` naming the source and the dotted key. A small hand-written
coercer rather than a library (pydantic, cattrs, msgspec): the types are few, the messages
must name TOML keys, and importing any of those costs more than this module's whole load.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pytest_gridgate.settings.declare import ANY_NUMBER, format_number, number_range
from pytest_gridgate.sizes import ByteSize, parse_size

__all__ = ["ConfigError", "build", "convert", "describe", "env_name_problem", "hints"]


class ConfigError(Exception):
    """A configuration problem: the message is one line naming the source and the key."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")


def is_settings(tp: Any) -> bool:
    """Whether an annotation is a settings class (a table of keys)."""
    return isinstance(tp, type) and issubclass(tp, tuple) and hasattr(tp, "_fields")


_HINTS: dict[type[Any], dict[str, Any]] = {}


def hints(cls: type[Any]) -> dict[str, Any]:
    # Resolving string annotations is the costliest step of a load: once per class (a
    # cache of a pure function of the class, not per-run state).
    found = _HINTS.get(cls)
    if found is None:
        found = _HINTS[cls] = typing.get_type_hints(cls)
    return found


def type_name(tp: Any) -> str:
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
        return f"a list of {type_name(typing.get_args(tp)[0]).removeprefix('a ')}s"
    if origin in (Mapping, dict) or is_settings(tp):
        return "a table"
    return str(tp)


def describe(value: Any) -> str:
    kind = {bool: "boolean", int: "integer", float: "number", str: "string"}.get(type(value))
    if kind is None:
        kind = "table" if isinstance(value, dict) else "list" if isinstance(value, list) else ""
        return kind or type(value).__name__
    return f"{kind} {value!r}"


def convert(value: Any, tp: Any, key: str, source: str, path: str | None = None) -> Any:
    """Check ``value`` against the annotation ``tp`` and return the typed value.

    ``key`` is what the error names (``profiles.ci.timeouts.default``); ``path`` the
    setting it is (``timeouts.default``), whose declared range applies.
    """
    path = key if path is None else path

    def wrong() -> ConfigError:
        return ConfigError(source, key, f"expected {type_name(tp)}, got {describe(value)}")

    origin = typing.get_origin(tp)
    if is_settings(tp):
        if not isinstance(value, dict):
            raise wrong()
        return build(tp, value, key, source, path)
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
        allowed = number_range(path) or ANY_NUMBER
        if not allowed.admits(value):
            raise ConfigError(source, key, f"must be {allowed}, got {format_number(value)}")
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
        # A table in an array of tables is the same setting whatever its index.
        return tuple(
            convert(v, item_type, f"{key}[{i}]", source, f"{path}[]") for i, v in enumerate(value)
        )
    if origin in (Mapping, dict):
        _, value_type = typing.get_args(tp)
        if not isinstance(value, dict):
            raise wrong()
        return types.MappingProxyType(
            {
                str(k): convert(v, value_type, f"{key}.{k}", source, f"{path}.*")
                for k, v in value.items()
            }
        )
    raise TypeError(f"unsupported annotation {tp!r}")  # pragma: no cover - a bug, not input


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


def env_table(value: Any, key: str, source: str) -> Mapping[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(source, key, f"expected a table, got {describe(value)}")
    result: dict[str, str] = {}
    for name, item in value.items():
        name = str(name)
        problem = env_name_problem(name)
        if problem is not None:
            raise ConfigError(source, _env_key(key, name), problem)
        # Numbers are written unquoted often enough (PORT = 5432) to accept them.
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise ConfigError(source, _env_key(key, name), "expected a string")
        text = str(item)
        if "\0" in text:  # the value itself is never shown: values may be secrets
            raise ConfigError(source, _env_key(key, name), "the value contains a NUL character")
        result[name] = text
    return types.MappingProxyType(result)


def unknown_key(name: str, known: Sequence[str]) -> str:
    """``unknown key; did you mean 'action'? (known keys: ...)``."""
    import difflib  # only on an error: it costs several milliseconds to import

    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key{hint} (known keys: {', '.join(sorted(known))})"


# The root's keys that are not validated by type: ``profiles`` (by the loader, profile by
# profile), ``source`` (not a key), ``env``/``env_force`` (names and values of variables).
_ROOT_SKIP = ("profiles",)
_ENV_TABLES = ("env", "env_force")


def build(cls: type[Any], data: Mapping[str, Any], prefix: str, source: str, path: str = "") -> Any:
    """``prefix``: the dotted key of ``data`` as errors name it; ``path``: the setting it
    is, without a ``profiles.NAME`` in front (see :func:`convert`)."""
    types_of = hints(cls)
    fields = [name for name in cls._fields if name != "source"]
    root = not path and "profiles" in fields
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if root and name in _ROOT_SKIP:
            continue
        if name not in fields:
            raise ConfigError(source, key, unknown_key(str(name), fields))
        if root and name in _ENV_TABLES:
            kwargs[name] = env_table(value, key, source)
            continue
        setting = f"{path}.{name}" if path else str(name)
        kwargs[name] = convert(value, types_of[name], key, source, setting)
    missing = [name for name in fields if name not in kwargs and name not in cls._field_defaults]
    if missing:
        raise ConfigError(source, f"{prefix}.{missing[0]}" if prefix else missing[0], "missing")
    return cls(**kwargs)
