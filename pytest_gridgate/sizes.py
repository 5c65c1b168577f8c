"""Sizes in bytes as people write them: ``"512MB"``, ``"2GiB"``, ``1048576``.

Standard library only: the configuration (which the scanner shares) parses memory limits
with it, and the report renders them back.
"""

from __future__ import annotations

import re

__all__ = ["ByteSize", "format_size", "parse_size"]

# Decimal units as the SI (and disk makers) use them, binary ones as the IEC; a bare ``K``,
# ``M``, ``G`` is binary, as ``ulimit``, ``docker --memory`` and ``ps`` read them.
_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "k": 2**10,
    "m": 2**20,
    "g": 2**30,
    "t": 2**40,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*")
# Nothing measured in a test process comes near it; larger values are typos.
MAX_SIZE = 2**60


class ByteSize(int):
    """A number of bytes that reads back as a size (``--help``, messages)."""

    __slots__ = ()

    def __str__(self) -> str:
        # As a limit is written: "1 GiB", "100 MB"; a measured size uses format_size.
        if not self:
            return "0 (off)"
        for name, unit in _WHOLE_UNITS:
            if self >= unit and self % unit == 0:
                return f"{self // unit} {name}"
        return format_size(int(self))


_WHOLE_UNITS = (
    ("TiB", 2**40),
    ("TB", 10**12),
    ("GiB", 2**30),
    ("GB", 10**9),
    ("MiB", 2**20),
    ("MB", 10**6),
    ("KiB", 2**10),
    ("kB", 10**3),
)


def parse_size(value: object) -> ByteSize:
    """A size string or a whole number of bytes; ``ValueError`` saying what is accepted."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size like '512MB', '2GiB' or a number of bytes, got {value}")
    if isinstance(value, int):
        number: float = value
    elif isinstance(value, str) and (match := _SIZE.fullmatch(value)):
        unit = _UNITS.get(match.group(2).lower())
        if unit is None:
            raise ValueError(
                f"unknown size unit {match.group(2)!r} in {value!r} "
                "(use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)"
            )
        number = float(match.group(1)) * unit
    else:
        raise ValueError(
            f"expected a size like '512MB', '2GiB' or a number of bytes, got {value!r}"
        )
    if number < 0 or number > MAX_SIZE:
        raise ValueError(f"must be 0 (off) or a size up to 1 EiB, got {value!r}")
    return ByteSize(round(number))


def format_size(size: int) -> str:
    """``300000000`` -> ``"300.0 MB"``: decimal units (a limit written ``"100MB"`` reads
    back as ``100.0 MB``), one decimal."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover
