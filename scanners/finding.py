"""What every scanner produces: a :class:`Finding` at a place in a file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Finding:
    """One rule violation.

    ``path`` is relative to the current directory, ``/``-separated. ``line`` and ``column``
    are 1-based (``column`` counts characters, like ruff). ``source`` is the normalised
    source text of the matched code; the baseline matches on it instead of on line numbers.
    """

    path: str
    line: int
    column: int
    rule: str
    name: str
    message: str
    severity: str = "error"
    fixable: bool = False
    source: str = ""
    end_line: int | None = None
    end_column: int | None = None


class ParseFailure(Exception):
    """A file that cannot be decoded or parsed; the engine turns it into a GG000 finding."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


def parse_failure(exc: BaseException) -> ParseFailure:
    """The :class:`ParseFailure` for an exception raised while decoding or parsing."""
    if isinstance(exc, SyntaxError):
        line = exc.lineno or 1
        column = exc.offset or 1
        return ParseFailure(f"syntax error: {exc.msg}", line, max(column, 1))
    if isinstance(exc, UnicodeDecodeError):
        return ParseFailure(f"cannot decode: {exc.reason} at byte {exc.start}")
    if isinstance(exc, (RecursionError, MemoryError)):
        return ParseFailure("too deeply nested to parse")
    return ParseFailure(f"cannot parse: {exc}")
