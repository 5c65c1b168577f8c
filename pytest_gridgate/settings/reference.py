"""The configuration reference, generated from the gates' declarations.

``python -m pytest_gridgate.settings.reference`` rewrites the generated tables of
``docs/configuration.md`` (between ``<!-- generated: NAME -->`` and
``<!-- end generated: NAME -->``; the prose around them is written by hand) and
``docs/gridgate.schema.json``, the JSON Schema of ``[tool.gridgate]`` for editors.
``--check`` writes nothing and exits 1 when either file is stale, naming it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import typing
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pytest_gridgate.settings.coerce import hints, is_settings
from pytest_gridgate.settings.declare import (
    NumberRange,
    declared,
    number_range,
    number_ranges,
)
from pytest_gridgate.settings.loader import ENV_PREFIX, env_variable_names
from pytest_gridgate.settings.root import GridgateConfig
from pytest_gridgate.sizes import MAX_SIZE, ByteSize

__all__ = ["configuration_tables", "json_schema", "main"]

SCHEMA_ID = "https://github.com/pytest-gridgate/pytest-gridgate/docs/gridgate.schema.json"
# Root keys with a section of their own in the page rather than a row.
_NO_ROW = ("profiles", "source")


class Row(typing.NamedTuple):
    key: str
    tp: Any
    default: Any
    text: tuple[str, str, str]  # declared type, default and description, each may be ""
    options: tuple[str, ...]


def _rows(cls: type[Any], prefix: str = "") -> Iterator[Row]:
    section = declared(cls)
    types_of = hints(cls)
    for name in cls._fields:
        if not prefix and name in _NO_ROW:
            continue
        tp = types_of[name]
        key = f"{prefix}{name}"
        text = section.keys.get(name, ("", "", "")) if section else ("", "", "")
        options = (
            tuple(f"--{dest.replace('_', '-')}" for dest, k in section.options.items() if k == name)
            if section
            else ()
        )
        if is_settings(tp) and name not in (section.keys if section else {}):
            yield from _rows(tp, key + ".")
            continue
        yield Row(key, tp, cls._field_defaults.get(name), text, options)


def _type_text(row: Row) -> str:
    if row.text[0]:
        return row.text[0]
    tp = row.tp
    ranged = " ([range](#number-ranges))" if number_range(row.key) else ""
    if tp is bool:
        return "boolean"
    if tp is int:
        return "integer" + ranged
    if tp is float:
        allowed = number_range(row.key)
        return ("seconds" if allowed and allowed.unit == "seconds" else "number") + ranged
    if tp is str:
        return "string"
    if typing.get_origin(tp) is Literal:
        return ", ".join(f'`"{a}"`' for a in typing.get_args(tp))
    if typing.get_origin(tp) is tuple:
        return "list of strings"
    return "table"  # pragma: no cover - every other kind declares its text


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {k: _json_value(v) for k, v in value._asdict().items()}
    if isinstance(value, (tuple, list)):
        return [_json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, ByteSize):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _default_text(row: Row) -> str:
    if row.text[1]:
        return row.text[1]
    return f"`{json.dumps(_json_value(row.default), ensure_ascii=False)}`"


def _env_text(row: Row, variables: Mapping[str, str]) -> str:
    names = [f"`{name}`" for name, key in variables.items() if key == row.key]
    options = ", ".join(f"`{option}`" for option in row.options)
    text = names[0] if names else "—"
    if options:
        text += f" (option {options})"
    return text


def configuration_tables() -> dict[str, str]:
    """The generated blocks of ``docs/configuration.md`` by name."""
    variables = env_variable_names()
    keys = [
        "| key | type | default | environment variable | what it does |",
        "|---|---|---|---|---|",
    ]
    for row in _rows(GridgateConfig):
        keys.append(
            f"| `{row.key}` | {_type_text(row)} | {_default_text(row)} "
            f"| {_env_text(row, variables)} | {row.text[2]} |"
        )
    ranges = ["| key | allowed values |", "|---|---|"]
    ranges += [f"| `{key}` | {allowed} |" for key, allowed in number_ranges().items()]
    return {"keys": "\n".join(keys), "ranges": "\n".join(ranges)}


# --------------------------------------------------------------------------- JSON Schema


def _number_schema(tp: Any, allowed: NumberRange | None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer" if tp is int else "number"}
    if allowed is None:
        schema["minimum"] = 0
        return schema
    span = {"minimum": allowed.low, "maximum": allowed.high}
    if allowed.off and allowed.low > 0:
        schema["anyOf"] = [{"const": 0}, span]
    else:
        schema.update(span)
    return schema


def _schema(tp: Any, path: str) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if is_settings(tp):
        return _table_schema(tp, path)
    if tp is bool:
        return {"type": "boolean"}
    if tp is ByteSize:
        return {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": MAX_SIZE},
                {"type": "string", "pattern": r"^\s*(\d+(\.\d*)?|\.\d+)\s*[a-zA-Z]*\s*$"},
            ]
        }
    if tp is int or tp is float:
        return _number_schema(tp, number_range(path))
    if tp is str:
        return {"type": "string"}
    if origin is Literal:
        return {"enum": list(typing.get_args(tp))}
    if origin is tuple:
        return {"type": "array", "items": _schema(typing.get_args(tp)[0], f"{path}[]")}
    if origin in (Mapping, dict):
        value_type = typing.get_args(tp)[1]
        return {"type": "object", "additionalProperties": _schema(value_type, f"{path}.*")}
    raise TypeError(f"unsupported annotation {tp!r}")  # pragma: no cover - a bug


def _table_schema(cls: type[Any], path: str, *, skip: Sequence[str] = ()) -> dict[str, Any]:
    section = declared(cls)
    types_of = hints(cls)
    properties: dict[str, Any] = {}
    for name in cls._fields:
        if name in skip:
            continue
        key = f"{path}.{name}" if path else name
        if not path and name in ("env", "env_force"):
            prop: dict[str, Any] = {
                "type": "object",
                "propertyNames": {"minLength": 1, "pattern": "^[^=\\u0000]*$"},
                "additionalProperties": {"type": ["string", "number"]},
            }
        else:
            prop = _schema(types_of[name], key)
        text = section.keys.get(name) if section else None
        if text and text[2]:
            prop["description"] = text[2]
        if name in cls._field_defaults:
            prop["default"] = _json_value(cls._field_defaults[name])
        properties[name] = prop
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    required = [n for n in cls._fields if n not in cls._field_defaults and n not in skip]
    if required:
        schema["required"] = required
    if section and section.doc:
        schema["description"] = section.doc
    return schema


def json_schema() -> dict[str, Any]:
    """The JSON Schema of ``[tool.gridgate]`` (and of ``gridgate.yaml``)."""
    schema = _table_schema(GridgateConfig, "", skip=("source", "profiles"))
    profile = _table_schema(GridgateConfig, "", skip=("source", "profile", "profiles"))
    profile["description"] = "A profile: overlays any of the tables above."
    schema["properties"]["profiles"] = {
        "type": "object",
        "description": "Named profiles, chosen with `profile`, GRIDGATE_PROFILE or "
        "--gridgate-profile.",
        "additionalProperties": profile,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "[tool.gridgate]",
        "description": "gridgate's configuration: [tool.gridgate] in pyproject.toml, or "
        f"gridgate.yaml. Every scalar key is also a {ENV_PREFIX}* environment variable.",
    }


# --------------------------------------------------------------------------- the files


def _replace_blocks(page: str, blocks: Mapping[str, str], name: str) -> str:
    for block, text in blocks.items():
        head, tail = f"<!-- generated: {block} -->\n", f"<!-- end generated: {block} -->"
        found = re.search(re.escape(head) + ".*?" + re.escape(tail), page, re.S)
        if found is None:
            raise SystemExit(f"{name}: no '<!-- generated: {block} -->' block to fill")
        page = f"{page[: found.start()]}{head}{text}\n{tail}{page[found.end() :]}"
    return page


def expected_files(docs: Path) -> dict[Path, str]:
    """Each generated file and the text it should have."""
    page = docs / "configuration.md"
    return {
        page: _replace_blocks(page.read_text(encoding="utf-8"), configuration_tables(), str(page)),
        docs / "gridgate.schema.json": json.dumps(json_schema(), indent=2, ensure_ascii=False)
        + "\n",
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_gridgate.settings.reference", description=__doc__
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    parser.add_argument("--docs", type=Path, default=Path("docs"), help="default: docs")
    args = parser.parse_args(argv)
    stale = []
    for path, text in expected_files(args.docs).items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    for path in stale:
        print(f"{path} is stale: run python -m pytest_gridgate.settings.reference", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
