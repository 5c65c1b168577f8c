"""The ``ast`` tier: what a file's ``ast`` says before libcst is paid for.

libcst parses about ten times slower than :func:`ast.parse`, and most files cannot trigger
most rules. :class:`AstFacts` parses once with ``ast`` and records, lazily and shared by all
rules of the file, the calls (with their callee as written and whether they sit directly in
an ``async def``), raises, imports and definitions in source order, and what each import
binds. :mod:`scanners.rules.tiers` asks it the *conservative* questions a rule's declaration
implies (may this call resolve to ``sys.exit``?): resolution here ignores scopes, so a name
may mean whatever *any* import anywhere in the file binds it to, or the builtin of that name.

The precise tier maps its findings back to the same nodes for positions (see
:mod:`positions`).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

from scanners.finding import parse_failure
from scanners.rules.names import (
    dotted_name,
    from_import_bindings,
    import_bindings,
    is_main_guard,
    module_name_for,
    qualify,
)


@dataclass
class CallFact:
    node: ast.Call
    last: str | None  # last name of the callee (``run`` for ``a.b.run(...)``)
    dotted: str | None  # the callee as a dotted name, when it is one
    in_async: bool = False


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_BREAK_BYTES = re.compile(rb"\r\n|\r|\n")


class AstFacts:
    """Facts about one file from :mod:`ast`, each computed on first use."""

    def __init__(self, path: str, source: bytes) -> None:
        self.path = path
        self.source = source
        self.package = module_name_for(path)[1]
        self._tree: ast.Module | None = None
        self._calls: list[CallFact] | None = None
        self._by_last: dict[str, list[CallFact]] = {}
        self._bindings: dict[str, set[str]] = {}
        self.nodes: dict[type[ast.AST], list[ast.AST]] = {}
        self._main_ranges: list[tuple[int, int]] | None = None
        self._lines: list[str] | None = None
        self._line_starts: list[int] | None = None

    @property
    def tree(self) -> ast.Module:
        if self._tree is None:
            try:
                # Invalid escapes and the like warn at compile time: not the scan's output.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    self._tree = ast.parse(self.source, self.path)
            except (SyntaxError, ValueError, UnicodeError, RecursionError, MemoryError) as exc:
                raise parse_failure(exc) from None
        return self._tree

    # -- the walk -------------------------------------------------------------------------

    def _walk(self) -> None:
        calls: list[CallFact] = []
        by_id: dict[int, CallFact] = {}
        bindings = self._bindings
        nodes = self.nodes
        kept = (ast.Raise, ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)
        async_defs: list[ast.AsyncFunctionDef] = []
        # ast.walk visits every Load() and Name; this walk skips what holds no call.
        todo: list[ast.AST | None] = [self.tree]
        while todo:
            node = todo.pop()
            node_type = type(node)
            if node is None or node_type in _AST_LEAVES:
                continue
            todo.extend(_ast_children(node))
            if node_type is ast.Call:
                assert isinstance(node, ast.Call)
                dotted = dotted_name(node.func)
                last = dotted.rpartition(".")[2] if dotted else None
                if last is None and isinstance(node.func, ast.Attribute):
                    last = node.func.attr
                fact = CallFact(node, last, dotted)
                calls.append(fact)
                by_id[id(node)] = fact
                continue
            if node_type in kept:
                nodes.setdefault(node_type, []).append(node)
            if node_type is ast.Import:
                assert isinstance(node, ast.Import)
                pairs = import_bindings((alias.name, alias.asname) for alias in node.names)
                for bound, target in pairs:
                    bindings.setdefault(bound, set()).add(target)
            elif node_type is ast.ImportFrom:
                assert isinstance(node, ast.ImportFrom)
                aliases = ((alias.name, alias.asname) for alias in node.names)
                for bound, imported in from_import_bindings(
                    self.package, node.level, node.module, aliases
                ):
                    if imported is not None:
                        bindings.setdefault(bound, set()).add(imported)
            elif node_type is ast.AsyncFunctionDef:
                assert isinstance(node, ast.AsyncFunctionDef)
                async_defs.append(node)
                nodes.setdefault(ast.FunctionDef, []).append(node)
        for function in async_defs:
            stack: list[ast.AST | None] = [*function.body]
            while stack:
                node = stack.pop()
                if node is None or type(node) in _AST_LEAVES:
                    continue
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    continue  # its own context (an async one is walked on its own)
                if type(node) is ast.Call:
                    by_id[id(node)].in_async = True
                stack.extend(_ast_children(node))
        for fact in calls:
            if fact.last is not None:
                self._by_last.setdefault(fact.last, []).append(fact)
        self._calls = calls

    @property
    def calls(self) -> list[CallFact]:
        if self._calls is None:
            self._walk()
        assert self._calls is not None
        return self._calls

    def node_list(self, node_type: type[ast.AST]) -> list[ast.AST]:
        """Nodes of ``node_type`` (Call, Raise, Import, ImportFrom, FunctionDef incl. async,
        ClassDef), in source order."""
        if node_type is ast.Call:
            found: list[ast.AST] = [fact.node for fact in self.calls]
        else:
            self.calls  # noqa: B018 - the walk fills self.nodes
            found = list(self.nodes.get(node_type, ()))
        found.sort(key=_source_order)
        return found

    # -- questions ------------------------------------------------------------------------

    def resolutions(self, dotted: str) -> set[str]:
        """Every qualified name ``dotted`` may stand for (scopes ignored: any import of its
        head anywhere in the file, or the builtin)."""
        head = dotted.partition(".")[0]
        found = {qualify(dotted, target) for target in self._bindings.get(head, ())}
        found.add(qualify(dotted, None))
        found.discard(None)
        return found  # type: ignore[return-value]

    def spellings(self, lasts: Iterable[str]) -> set[str]:
        """``lasts`` and every name an import binds to something whose last name is one of
        them (``from os import kill as k``: ``k`` for ``kill``)."""
        self.calls  # noqa: B018 - the walk fills the bindings
        wanted = set(lasts)
        return wanted | {
            bound
            for bound, sources in self._bindings.items()
            if any(source.rpartition(".")[2] in wanted for source in sources)
        }

    def calls_named(self, last: str) -> list[CallFact]:
        """Calls whose callee's last name is ``last`` (``x.last(...)``, ``last(...)``)."""
        self.calls  # noqa: B018
        return self._by_last.get(last, [])

    @property
    def line_starts(self) -> list[int]:
        """Byte offset where each line starts (index 0 is line 1)."""
        if self._line_starts is None:
            self._line_starts = [0] + [m.end() for m in _LINE_BREAK_BYTES.finditer(self.source)]
        return self._line_starts

    @property
    def encoding(self) -> str:
        return tokenize.detect_encoding(io.BytesIO(self.source).readline)[0]

    @property
    def main_ranges(self) -> list[tuple[int, int]]:
        """Line ranges of top-level ``if __name__ == "__main__":`` bodies."""
        if self._main_ranges is None:
            self._main_ranges = []
            for node in self.tree.body:
                if isinstance(node, ast.If) and is_main_guard(node.test) and node.body:
                    end = node.body[-1].end_lineno or node.body[-1].lineno
                    self._main_ranges.append((node.body[0].lineno, end))
        return self._main_ranges

    def in_main_guard(self, line: int) -> bool:
        return any(start <= line <= end for start, end in self.main_ranges)

    # -- text -----------------------------------------------------------------------------

    def line(self, number: int) -> str:
        """Line ``number`` (1-based) of the decoded source, as ``ast`` counts lines."""
        if self._lines is None:
            text = self.source.decode(self.encoding)
            self._lines = _LINE_BREAK.split(text)
        if 1 <= number <= len(self._lines):
            return self._lines[number - 1]
        return ""

    def column(self, line: int, utf8_offset: int) -> int:
        """1-based character column of an ``ast`` (UTF-8 byte) offset."""
        text = self.line(line)
        return len(text.encode("utf-8")[:utf8_offset].decode("utf-8", "replace")) + 1


# Fields that never hold a node that can contain a call (names, operators, contexts).
_SKIPPED_AST_FIELDS = frozenset(
    {
        "ctx",
        "op",
        "ops",
        "id",
        "arg",
        "attr",
        "name",
        "asname",
        "module",
        "level",
        "kind",
        "type_comment",
        "type_ignores",
        "is_async",
        "conversion",
        "simple",
        "names",
        "kwd_attrs",
        "tag",
    }
)
_AST_LEAVES = frozenset({ast.Name, ast.Constant})
_AST_FIELDS: dict[type[ast.AST], tuple[str, ...]] = {}


def _ast_children(node: ast.AST) -> list[ast.AST | None]:
    """Children that may hold calls; lists may contain None (``{**a}``'s key)."""
    node_type = type(node)
    fields = _AST_FIELDS.get(node_type)
    if fields is None:
        fields = _AST_FIELDS[node_type] = tuple(
            name for name in node_type._fields if name not in _SKIPPED_AST_FIELDS
        )
    children: list[ast.AST | None] = []
    for name in fields:
        value = getattr(node, name, None)
        if type(value) is list:
            children.extend(value)
        elif isinstance(value, ast.AST):
            children.append(value)
    return children


def _source_order(node: ast.AST) -> tuple[int, int, int, int]:
    return (
        getattr(node, "lineno", 0),
        getattr(node, "col_offset", 0),
        -(getattr(node, "end_lineno", 0) or 0),
        -(getattr(node, "end_col_offset", 0) or 0),
    )
