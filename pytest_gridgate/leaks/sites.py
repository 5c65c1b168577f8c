"""Where a ``file:line`` origin sits in its source: the function that holds the line.

Two findings set by two lines of one ``setUp`` are one cause, one place to fix; two lines
of two functions are two. The function is read from the source file when the report is
made (only for origins whose findings may be merged, once per file), not recorded per
finding: the tracking wrappers run on every ``os.environ`` change and stay as cheap as
they are. Standard library only: the entries may come from any process's JSON report.
"""

from __future__ import annotations

import ast
import os
import re
import tokenize

#: ``file:line``, as the tracking wrappers record an origin (the file may hold colons).
_SITE = re.compile(r"(?P<file>.+):(?P<line>\d+)")


def parse_site(origin: str | None) -> tuple[str, int] | None:
    """The file and line of a ``file:line`` origin; None for any other origin."""
    match = _SITE.fullmatch(origin or "")
    return (match["file"], int(match["line"])) if match else None


class FunctionSpans:
    """The functions of source files, read once per file: what holds a given line.

    One per process (:data:`SPANS`): the leaks verdict is made again for every mid-run
    snapshot of the report (pexpect's suite: 60 of them, each parsing the same test
    modules again, a sixth of the gate's CPU time). A file whose size or modification
    time changed since it was read is read again.
    """

    def __init__(self) -> None:
        # Per file: its (mtime, size) when read, and (first line, last line, qualified
        # name) of each function, or None where unreadable.
        self._files: dict[str, tuple[tuple[int, int], list[tuple[int, int, str]] | None]] = {}

    def function_at(self, path: str, line: int) -> tuple[str, int] | None:
        """The innermost function holding ``line`` of ``path``: its qualified name and its
        first line; None at module level, or where the source cannot be read."""
        try:
            stat = os.stat(path)
        except OSError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        known = self._files.get(path)
        if known is None or known[0] != stamp:
            known = self._files[path] = (stamp, _read_spans(path))
        holders = [(first, name) for first, last, name in known[1] or () if first <= line <= last]
        if not holders:
            return None
        first, name = max(holders)  # the innermost starts last
        return name, first


#: This process's spans.
SPANS = FunctionSpans()


def _read_spans(path: str) -> list[tuple[int, int, str]] | None:
    try:
        with tokenize.open(path) as source:  # honours a coding declaration
            tree = ast.parse(source.read(), path)
    # RecursionError: the parser's own, on a long chain of operators (generated code).
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    spans: list[tuple[int, int, str]] = []
    # A stack, not recursion: a deeply nested expression must not end the report.
    stack: list[tuple[ast.AST, str]] = [(tree, "")]
    while stack:
        node, prefix = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    # From its decorators: a line of one (a lambda's) is the function's too.
                    first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                    spans.append((first, child.end_lineno or child.lineno, name))
                stack.append((child, f"{name}."))
            else:
                stack.append((child, prefix))
    return spans
