"""Skeletons: the part of a file libcst has to parse.

libcst's parse is the most expensive step, and in a large file the candidate lines of the
rules usually sit in a few top-level functions or classes. Every other top-level ``def`` or
``class`` is replaced by a one-line stub that binds the same name (``def name(): pass``)
followed by as many empty lines as it had, so line numbers, columns of the kept code, the
module's bindings and every top-level ``if``/``try``/import stay exactly as they were. A
function or class body cannot affect what a rule sees outside it, except through names the
rules resolve at module level, which the stub keeps.
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


def skeleton(facts: AstFacts, keep: set[int]) -> bytes | None:
    """The source with top-level definitions that hold no line of ``keep`` stubbed out, or
    None when that would not save enough."""
    source = facts.source
    starts = facts.line_starts
    wanted = sorted(keep)
    encoding = facts.encoding
    if encoding == "utf-8-sig":
        encoding = "utf-8"  # the BOM is kept where it is, not repeated in each stub
    pieces: list[bytes] = []
    cursor = 0
    removed = 0
    for statement in facts.tree.body:
        if not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        first = min([statement.lineno] + [d.lineno for d in statement.decorator_list])
        last = statement.end_lineno or statement.lineno
        index = bisect.bisect_left(wanted, first)
        if index < len(wanted) and wanted[index] <= last:
            continue  # a rule needs to see this one
        begin = starts[first - 1]
        if first == 1 and source.startswith(codecs.BOM_UTF8):
            begin += len(codecs.BOM_UTF8)
        end = starts[last] if last < len(starts) else len(source)
        keyword = b"class" if isinstance(statement, ast.ClassDef) else b"def"
        parens = b"" if isinstance(statement, ast.ClassDef) else b"()"
        stub = keyword + b" " + statement.name.encode(encoding) + parens + b": pass"
        breaks = b"".join(_LINE_BREAKS.findall(source, begin, end))
        pieces += [source[cursor:begin], stub, breaks]
        removed += end - begin - len(stub) - len(breaks)
        cursor = end
    if removed < MIN_SAVING * len(source):
        return None
    pieces.append(source[cursor:])
    return b"".join(pieces)
