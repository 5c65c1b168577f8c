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
import bisect
import io
import re
import tokenize
import warnings
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from scanners.finding import parse_failure
from scanners.rules.names import (
    dotted_name,
    from_import_bindings,
    import_bindings,
    is_main_guard,
    module_name_for,
    qualify,
    whole_word_offsets,
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
        self._all_calls: list[CallFact] | None = None
        self._restricted_to: set[str] | None = None
        self._statements: list[tuple[ast.stmt, int, bool]] | None = None
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

    # -- the walks ------------------------------------------------------------------------

    def _scan_statements(self) -> list[tuple[ast.stmt, int, bool]]:
        """Every statement (no expression is entered): ``(statement, first line including
        decorators, directly inside an async def)``; fills the raises, imports,
        definitions and what each import binds."""
        if self._statements is not None:
            return self._statements
        statements: list[tuple[ast.stmt, int, bool]] = []
        bindings, nodes = self._bindings, self.nodes
        todo: list[tuple[ast.stmt, bool]] = [(s, False) for s in reversed(self.tree.body)]
        while todo:
            statement, in_async = todo.pop()
            node_type = type(statement)
            first = statement.lineno
            if node_type in _DEFINITIONS:
                decorators = statement.decorator_list  # type: ignore[attr-defined]
                first = min([first, *(decorator.lineno for decorator in decorators)])
            statements.append((statement, first, in_async))
            if node_type in _KEPT:
                nodes.setdefault(_KEPT[node_type], []).append(statement)
            if node_type is ast.Import:
                assert isinstance(statement, ast.Import)
                aliases = ((alias.name, alias.asname) for alias in statement.names)
                for bound, target in import_bindings(aliases):
                    bindings.setdefault(bound, set()).add(target)
            elif node_type is ast.ImportFrom:
                assert isinstance(statement, ast.ImportFrom)
                aliases = ((alias.name, alias.asname) for alias in statement.names)
                for bound, imported in from_import_bindings(
                    self.package, statement.level, statement.module, aliases
                ):
                    if imported is not None:
                        bindings.setdefault(bound, set()).add(imported)
            if node_type is ast.AsyncFunctionDef:
                in_async = True
            elif node_type is ast.FunctionDef:
                in_async = False
            for body in reversed(statement_bodies(statement)):
                todo.extend((inner, in_async) for inner in reversed(body))
        self._statements = statements
        return statements

    def _walk_calls(self, lines: set[int] | None) -> list[CallFact]:
        """The calls in the statements that hold one of ``lines`` (None: all), each
        statement's own expressions only (its inner statements are their own entries)."""
        calls: list[CallFact] = []
        wanted = sorted(lines) if lines is not None else None
        for statement, first, in_async in self._scan_statements():
            if wanted is not None:
                index = bisect.bisect_left(wanted, first)
                last = statement.end_lineno or statement.lineno
                if index == len(wanted) or wanted[index] > last:
                    continue
            todo: list[tuple[ast.AST | None, bool]] = [
                (child, in_async) for child in _ast_children(statement)
            ]
            while todo:
                node, inside_async = todo.pop()
                node_type = type(node)
                if node is None or node_type in _AST_LEAVES or isinstance(node, ast.stmt):
                    continue
                if node_type is ast.Lambda:
                    inside_async = False  # its body runs when it is called
                elif node_type is ast.Call:
                    assert isinstance(node, ast.Call)
                    dotted = dotted_name(node.func)
                    last_name = dotted.rpartition(".")[2] if dotted else None
                    if last_name is None and isinstance(node.func, ast.Attribute):
                        last_name = node.func.attr
                    calls.append(CallFact(node, last_name, dotted, inside_async))
                todo.extend((child, inside_async) for child in _ast_children(node))
        return calls

    def restrict_calls(self, words: Collection[str]) -> None:
        """Only calls whose callee's last name is one of ``words`` (or an import alias of
        one) are asked about (:attr:`calls`, :meth:`calls_named`): the expressions of
        statements that do not spell one are not walked. Call before the first question."""
        self._restricted_to = set(words)

    @property
    def calls(self) -> list[CallFact]:
        """The calls (those :meth:`restrict_calls` leaves), in no particular order."""
        if self._calls is None:
            lines = None
            if self._restricted_to is not None:
                lines = self._word_lines(self.spellings(self._restricted_to))
            self._calls = self._walk_calls(lines)
            if lines is None:
                self._all_calls = self._calls
            for fact in self._calls:
                if fact.last is not None:
                    self._by_last.setdefault(fact.last, []).append(fact)
        return self._calls

    def _word_lines(self, words: Collection[str]) -> set[int] | None:
        """Lines on which one of ``words`` is spelled as a whole name (None: cannot tell,
        for a name that is not ASCII and so may be spelled in another encoding)."""
        if not all(word.isascii() for word in words):
            return None
        starts = self.line_starts
        return {
            bisect.bisect_right(starts, offset)
            for word in words
            for offset in whole_word_offsets(self.source, word.encode())
        }

    def node_list(self, node_type: type[ast.AST]) -> list[ast.AST]:
        """Nodes of ``node_type`` (Call, Raise, Import, ImportFrom, FunctionDef incl. async,
        ClassDef), in source order; every call, whatever :meth:`restrict_calls` said."""
        if node_type is ast.Call:
            if self._all_calls is None:
                self._all_calls = self._walk_calls(None)
            found: list[ast.AST] = [fact.node for fact in self._all_calls]
        else:
            self._scan_statements()
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
        self._scan_statements()  # fills the bindings
        wanted = set(lasts)
        return wanted | {
            bound
            for bound, sources in self._bindings.items()
            if any(source.rpartition(".")[2] in wanted for source in sources)
        }

    def calls_named(self, last: str) -> list[CallFact]:
        """Calls whose callee's last name is ``last`` (``x.last(...)``, ``last(...)``)."""
        self.calls  # noqa: B018 - fills _by_last
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
_DEFINITIONS = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef})
# Statement types kept for node_list, by the type they are listed under.
_KEPT: dict[type[ast.AST], type[ast.AST]] = {
    ast.Raise: ast.Raise,
    ast.Import: ast.Import,
    ast.ImportFrom: ast.ImportFrom,
    ast.FunctionDef: ast.FunctionDef,
    ast.AsyncFunctionDef: ast.FunctionDef,
    ast.ClassDef: ast.ClassDef,
}


def statement_bodies(statement: ast.stmt) -> list[list[ast.stmt]]:
    """The statement lists directly inside ``statement``, in source order."""
    statement_type = type(statement)
    fields = _BODY_FIELDS.get(statement_type)
    if fields is None:
        fields = _BODY_FIELDS[statement_type] = tuple(
            name for name in ("body", "orelse") if name in statement_type._fields
        )
    if not fields:  # most statements: an expression, an assignment, a return
        return []
    if statement_type is ast.Try or statement_type.__name__ == "TryStar":
        bodies = [statement.body]  # type: ignore[attr-defined]
        bodies += [handler.body for handler in statement.handlers]  # type: ignore[attr-defined]
        return [*bodies, statement.orelse, statement.finalbody]  # type: ignore[attr-defined]
    if statement_type is ast.Match:
        return [case.body for case in statement.cases]  # type: ignore[attr-defined]
    found = []
    for name in fields:
        value = getattr(statement, name)
        if isinstance(value, list):
            found.append(value)
    return found


# The fields of each statement type that may hold statement lists (none for most types).
_BODY_FIELDS: dict[type[ast.AST], tuple[str, ...]] = {ast.Match: ("cases",)}


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
