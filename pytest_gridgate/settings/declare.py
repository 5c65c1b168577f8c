"""How a gate declares its ``[tool.gridgate.NAME]`` table: one :func:`section` call.

A gate's settings are a ``NamedTuple`` (typed, immutable, and about five times cheaper to
define than a frozen dataclass, which every pytest run pays for at start-up) plus what the
annotations cannot say: the range of each number, a line of documentation per key, and
the command-line options that set a key. Validation, ``GRIDGATE_*`` variables,
``docs/configuration.md`` and ``docs/gridgate.schema.json`` are all derived from this one
declaration. Standard library only: the scanner shares it and never imports pytest.
"""

from __future__ import annotations

import math
import sys
import types
from collections.abc import Mapping
from typing import Any, NamedTuple, TypeVar

__all__ = [
    "DAY",
    "EMPTY",
    "NumberRange",
    "Section",
    "number_range",
    "section",
    "sections",
]

DAY = 86400.0
# Tables default to one shared, read-only empty mapping.
EMPTY: Mapping[str, Any] = types.MappingProxyType({})


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
        span = f"from {format_number(self.low)} to {format_number(self.high)}{unit}"
        return f"0 (off) or {span}" if self.off else span


# A number without a declared range must be finite and not negative.
ANY_NUMBER = NumberRange(0, sys.float_info.max)


def format_number(value: float) -> str:
    """A number as a message shows it: ``nan``, ``inf``, ``1e+10``, ``86400``."""
    if isinstance(value, int) and abs(value) >= 2**63:
        return "a number over 2**63"  # str() of a huge int is slow, or refused
    return f"{value:g}" if isinstance(value, float) else str(value)


class Section(NamedTuple):
    """One declared table. ``keys``: key -> (type as the reference shows it, default as
    the reference shows it, what it does); any part left empty is derived from the class.
    ``ranges``: key (``markers.*`` for any key of a table) -> :class:`NumberRange`.
    ``options``: pytest option dest -> the key it sets (the option is the gate's own)."""

    name: str
    cls: type[Any]
    doc: str
    keys: Mapping[str, tuple[str, str, str]]
    ranges: Mapping[str, NumberRange]
    options: Mapping[str, str]


_SECTIONS: dict[str, Section] = {}
_BY_CLASS: dict[type[Any], Section] = {}
_RANGES: dict[str, NumberRange] = {}

T = TypeVar("T")


def section(
    name: str,
    cls: type[T],
    *,
    doc: str = "",
    keys: Mapping[str, tuple[str, str, str]] | None = None,
    ranges: Mapping[str, NumberRange] | None = None,
    options: Mapping[str, str] | None = None,
) -> type[T]:
    """Declare ``cls`` as the settings of ``[tool.gridgate.<name>]`` (``name`` may be
    dotted for a nested table, ``leaks.ignore``); returns ``cls``."""
    declared = Section(
        name,
        cls,
        doc,
        types.MappingProxyType(dict(keys or {})),
        types.MappingProxyType(dict(ranges or {})),
        types.MappingProxyType(dict(options or {})),
    )
    _SECTIONS[name] = declared
    _BY_CLASS[cls] = declared
    for key, allowed in declared.ranges.items():
        _RANGES[f"{name}.{key}"] = allowed
    return cls


def sections() -> Mapping[str, Section]:
    """Every declared section by dotted name, in declaration order."""
    return types.MappingProxyType(_SECTIONS)


def declared(cls: type[Any]) -> Section | None:
    return _BY_CLASS.get(cls)


def number_range(key: str) -> NumberRange | None:
    """The declared range of the dotted setting ``key`` (``timeouts.markers.*``)."""
    return _RANGES.get(key)


def number_ranges() -> Mapping[str, NumberRange]:
    return types.MappingProxyType(_RANGES)
