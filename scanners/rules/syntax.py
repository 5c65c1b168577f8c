"""GG000's syntax check of a file no rule needs to look into.

Most files fail every rule's byte tier; for them the check is all the scan does, and
:func:`ast.parse` spends about a third of its time turning the parser's tree into Python
objects (and freeing them) that nobody reads. :func:`symtable.symtable` runs the same
parser on the same bytes (same encoding detection, same feature version) and keeps its
tree in C. It also rejects a little more than the parser does (``nonlocal`` at module
level, a misplaced ``from __future__`` import), so any failure of it is handed to
``ast.parse``, which stays the authority: it decides whether the file is a GG000 finding
and its error is the message, exactly as when it is parsed for a rule.
"""

from __future__ import annotations

import ast
import symtable
import warnings

from scanners.finding import parse_failure


def check_syntax(path: str, source: bytes) -> None:
    """Raise :class:`~scanners.finding.ParseFailure` where ``ast.parse`` would fail."""
    # Invalid escapes and the like warn at compile time: not the scan's output.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            symtable.symtable(source, path, "exec")  # type: ignore[arg-type]
            return
        except Exception:  # the authority below decides
            pass
        try:
            ast.parse(source, path)
        except (SyntaxError, ValueError, UnicodeError, RecursionError, MemoryError) as exc:
            raise parse_failure(exc) from None
