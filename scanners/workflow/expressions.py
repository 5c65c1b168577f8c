"""GitHub expressions (``${{ ... }}``) evaluated over a job's matrix, and the matrix itself.

Enough of the expression language to answer "is ``continue-on-error`` true for this
matrix entry?": literals, ``matrix.*`` lookups, ``!``, comparisons, ``&&``/``||`` (which,
as on GitHub, yield one of their operands), parentheses and the string functions
``contains``, ``startsWith``, ``endsWith``. Anything else (``github.*``, ``inputs.*``,
``fromJSON(...)``) is :data:`UNKNOWN`, and so is every result that depends on it: the
rules do not guess.

:func:`matrix_entries` expands ``strategy.matrix`` the way GitHub does: the product of
the lists, minus ``exclude``, then ``include`` added to every entry it does not overwrite
(or as a new entry).
"""

from __future__ import annotations

import itertools
import math
import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node

# GitHub allows 256 jobs per matrix; anything far beyond that is not a real matrix.
MAX_ENTRIES = 4096
UNKNOWN: Any = type("Unknown", (), {"__repr__": lambda self: "UNKNOWN"})()

_TOKEN = re.compile(
    r"\s*(?:(?P<number>-?\d+(?:\.\d+)?)|(?P<string>'(?:[^']|'')*')"
    r"|(?P<op>==|!=|<=|>=|&&|\|\||[!<>()\[\],.])|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)
_WHOLE = re.compile(r"^\s*\$\{\{(.*)\}\}\s*$", re.DOTALL)


class _Parser:
    def __init__(self, text: str, matrix: dict[str, Any]) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None or match.end() == pos:
                raise ValueError(text[pos:])
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            pos = match.end()
        self.index = 0
        self.matrix = matrix

    def peek(self) -> str | None:
        return self.tokens[self.index][1] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, text: str) -> None:
        if self.peek() != text:
            raise ValueError(text)
        self.index += 1

    def parse(self) -> Any:
        value = self.or_()
        if self.index != len(self.tokens):
            raise ValueError("trailing tokens")
        return value

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == "||":
            self.take()
            right = self.and_()
            if value is UNKNOWN:
                value = UNKNOWN if not truthy(right) else right
            elif not truthy(value):
                value = right
        return value

    def and_(self) -> Any:
        value = self.comparison()
        while self.peek() == "&&":
            self.take()
            right = self.comparison()
            if value is UNKNOWN:
                value = UNKNOWN if truthy(right) or right is UNKNOWN else right
            elif truthy(value):
                value = right
        return value

    def comparison(self) -> Any:
        value = self.unary()
        while self.peek() in ("==", "!=", "<", "<=", ">", ">="):
            op = self.take()[1]
            right = self.unary()
            value = _compare(op, value, right)
        return value

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            value = self.unary()
            return UNKNOWN if value is UNKNOWN else not truthy(value)
        return self.primary()

    def primary(self) -> Any:
        kind, text = self.take()
        if text == "(":
            inner = self.or_()
            self.expect(")")
            return inner
        if kind == "number":
            return float(text)
        if kind == "string":
            return text[1:-1].replace("''", "'")
        if kind != "name":
            raise ValueError(text)
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if self.peek() == "(":
            return self.call(text.lower())
        value: Any = self.matrix if text == "matrix" else UNKNOWN
        while self.peek() in (".", "["):
            if self.take()[1] == ".":
                key = self.take()[1]
            else:
                key_value = self.or_()
                self.expect("]")
                key = str(key_value)
            value = (
                value.get(key)
                if isinstance(value, dict)
                else (UNKNOWN if value is UNKNOWN else None)
            )
        return value

    def call(self, function: str) -> Any:
        self.expect("(")
        args = []
        while self.peek() != ")":
            args.append(self.or_())
            if self.peek() == ",":
                self.take()
        self.expect(")")
        if any(a is UNKNOWN for a in args) or len(args) != 2:
            return UNKNOWN
        haystack, needle = args
        if function == "contains":
            if isinstance(haystack, list):
                return any(_compare("==", item, needle) for item in haystack)
            return _text(needle).lower() in _text(haystack).lower()
        if function == "startswith":
            return _text(haystack).lower().startswith(_text(needle).lower())
        if function == "endswith":
            return _text(haystack).lower().endswith(_text(needle).lower())
        return UNKNOWN


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip() or 0)
    except ValueError:
        return float("nan")


def _compare(op: str, left: Any, right: Any) -> Any:
    if left is UNKNOWN or right is UNKNOWN:
        return UNKNOWN
    # GitHub compares strings case-insensitively and coerces mixed types to numbers.
    if isinstance(left, str) and isinstance(right, str):
        a: Any = left.lower()
        b: Any = right.lower()
    elif type(left) is type(right) and not isinstance(left, dict | list):
        a, b = left, right
    else:
        a, b = _number(left), _number(right)
    if op == "==":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    try:
        return bool({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op])
    except TypeError:
        return False


def truthy(value: Any) -> bool:
    if value is UNKNOWN:
        return False
    if isinstance(value, float):
        return value != 0 and value == value
    return bool(value)


def evaluate(text: str, matrix: dict[str, Any]) -> Any:
    """The value of a ``${{ ... }}`` (or plain) expression for one matrix entry."""
    match = _WHOLE.match(text)
    if match is None:
        return UNKNOWN if "${{" in text else text
    try:
        return _Parser(match.group(1), matrix).parse()
    except (ValueError, IndexError):
        return UNKNOWN


def _construct(node: Node) -> Any:
    constructor = yaml.constructor.SafeConstructor()
    try:
        return constructor.construct_object(node, deep=True)
    except yaml.YAMLError:
        return None


def matrix_entries(matrix: Node | None) -> list[dict[str, Any]] | None:
    """Every entry of a job's ``strategy.matrix``; None when it is computed at run time."""
    if not isinstance(matrix, MappingNode):
        return None
    value = _construct(matrix)
    if not isinstance(value, dict):
        return None
    include = value.pop("include", []) or []
    exclude = value.pop("exclude", []) or []
    if not isinstance(include, list) or not isinstance(exclude, list):
        return None
    if not all(isinstance(v, list) for v in value.values()):
        return None  # `${{ fromJSON(...) }}` somewhere: known only when the run starts
    keys = list(value)
    if math.prod(len(v) for v in value.values()) > MAX_ENTRIES:
        return None  # GitHub refuses more than 256 jobs; do not build a huge product
    entries = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*value.values())]
    if not keys:
        entries = []
    entries = [
        entry
        for entry in entries
        if not any(
            isinstance(ex, dict) and all(entry.get(k) == v for k, v in ex.items()) for ex in exclude
        )
    ]
    originals = [dict(entry) for entry in entries]
    for extra in include:
        if not isinstance(extra, dict):
            continue
        matched = False
        for entry, original in zip(entries[: len(originals)], originals, strict=True):
            if all(original[k] == v for k, v in extra.items() if k in original):
                entry.update(extra)
                matched = True
        if not matched:
            entries.append(dict(extra))
    return entries
