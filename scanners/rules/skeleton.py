"""Skeletons: the part of a file libcst has to parse.

libcst's parse is the most expensive step, and in a large file the candidate lines of the
rules usually sit in a few functions. Every other ``def`` or ``class`` (at any depth) is
replaced by a one-line stub at the same indentation that binds the same name
(``def name(): pass``) followed by as many empty lines as it had, so line numbers, columns
of the kept code, every scope's bindings and all other statements stay exactly as they
were. A definition's body cannot affect what a rule sees outside it, except through the
name it binds, which the stub keeps; rules that look across definitions (GG006 following a
process from ``Popen`` to ``.wait()``) list the lines they need to see.
"""

from __future__ import annotations

import ast
import bisect
import codecs
import re

from scanners.rules.prefilter import AstFacts

_LINE_BREAKS = re.compile(rb"\r\n|\r|\n")
# Below this share of removed bytes the second ``ast.parse`` (for positions) is not worth it.
MIN_SAVING = 0.25


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_INDENT = re.compile(rb"[ \t\f]*")


def _bodies(statement: ast.stmt) -> list[list[ast.stmt]]:
    """The statement lists directly inside ``statement``, in source order."""
    bodies: list[list[ast.stmt]] = []
    if isinstance(statement, ast.Try) or type(statement).__name__ == "TryStar":
        bodies.append(statement.body)  # type: ignore[attr-defined]
        bodies += [handler.body for handler in statement.handlers]  # type: ignore[attr-defined]
        bodies += [statement.orelse, statement.finalbody]  # type: ignore[attr-defined]
    elif isinstance(statement, ast.Match):
        bodies += [case.body for case in statement.cases]
    else:
        for name in ("body", "orelse"):
            value = getattr(statement, name, None)
            if isinstance(value, list):
                bodies.append(value)
    return bodies


def skeleton(facts: AstFacts, keep: set[int]) -> bytes | None:
    """The source with every definition that holds no line of ``keep`` stubbed out, or
    None when that would not save enough.

    Definitions are stubbed at any depth: a top-level test class with one flagged method
    keeps that method and its own statements, and every other method becomes a stub.
    """
    source = facts.source
    starts = facts.line_starts
    wanted = sorted(keep)
    encoding = facts.encoding
    if encoding == "utf-8-sig":
        encoding = "utf-8"  # the BOM is kept where it is, not repeated in each stub
    stubs: list[tuple[int, int, bytes]] = []  # (begin, end, replacement)

    def needed(first: int, last: int) -> bool:
        index = bisect.bisect_left(wanted, first)
        return index < len(wanted) and wanted[index] <= last

    def visit(body: list[ast.stmt]) -> None:
        for statement in body:
            last = statement.end_lineno or statement.lineno
            if isinstance(statement, _DEFINITIONS):
                first = min([statement.lineno] + [d.lineno for d in statement.decorator_list])
                if not needed(first, last):
                    stubs.append(_stub(statement, first, last))
                    continue
            elif not needed(statement.lineno, last):
                continue  # nothing to keep inside, nothing worth stubbing in it either
            for inner in _bodies(statement):
                visit(inner)

    def _stub(statement: ast.stmt, first: int, last: int) -> tuple[int, int, bytes]:
        assert isinstance(statement, _DEFINITIONS)
        begin = starts[first - 1]
        if first == 1 and source.startswith(codecs.BOM_UTF8):
            begin += len(codecs.BOM_UTF8)
        end = starts[last] if last < len(starts) else len(source)
        indent = _INDENT.match(source, begin)
        assert indent is not None
        keyword = b"class " if isinstance(statement, ast.ClassDef) else b"def "
        parens = b"" if isinstance(statement, ast.ClassDef) else b"()"
        stub = indent.group() + keyword + statement.name.encode(encoding) + parens + b": pass"
        return begin, end, stub + b"".join(_LINE_BREAKS.findall(source, begin, end))

    visit(facts.tree.body)
    removed = sum(end - begin - len(replacement) for begin, end, replacement in stubs)
    if removed < MIN_SAVING * len(source):
        return None
    pieces: list[bytes] = []
    cursor = 0
    for begin, end, replacement in sorted(stubs):
        pieces += [source[cursor:begin], replacement]
        cursor = end
    pieces.append(source[cursor:])
    return b"".join(pieces)
