"""The cheap tiers: what a file's bytes and its ``ast`` say before libcst is paid for.

libcst parses about ten times slower than :func:`ast.parse`, and most files cannot trigger
most rules. :class:`AstFacts` parses once with ``ast`` and answers, lazily and shared by
all rules of the file, *conservative* questions: may some call resolve to ``sys.exit``
outside a top-level main guard? may some call inside an ``async def`` resolve to
``time.sleep``? "Conservative" means the answer may only be no when the precise libcst
check could not report anything, so resolution here is deliberately looser: a name may
mean whatever *any* import anywhere in the file binds it to (scopes are ignored), or the
builtin of that name.

The same walk records the calls, raises, imports and definitions in source order; the
precise tier maps its findings back to them for positions (see :mod:`positions`).
"""

from __future__ import annotations

import ast
import bisect
import io
import re
import tokenize
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from scanners.finding import ParseFailure
from scanners.rules.names import BUILTIN_NAMES, module_name_for, resolve_relative


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


def _dotted(func: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name):
        return None
    parts.append(func.id)
    return ".".join(reversed(parts))


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
        _, package = module_name_for(self.path)
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
                dotted = _dotted(node.func)
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
                for alias in node.names:
                    if alias.asname:
                        bindings.setdefault(alias.asname, set()).add(alias.name)
                    else:
                        head = alias.name.partition(".")[0]
                        bindings.setdefault(head, set()).add(head)
            elif node_type is ast.ImportFrom:
                assert isinstance(node, ast.ImportFrom)
                base = resolve_relative(package, node.level, node.module)
                if base is None:
                    continue
                for alias in node.names:
                    bound = alias.asname or alias.name
                    bindings.setdefault(bound, set()).add(f"{base}.{alias.name}")
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
        """Every qualified name ``dotted`` may stand for (scopes ignored)."""
        head, dot, rest = dotted.partition(".")
        targets = set(self._bindings.get(head, ()))
        if head in BUILTIN_NAMES:
            targets.add(f"builtins.{head}")
        return {f"{t}.{rest}" if dot else t for t in targets}

    def call_lines(
        self,
        targets: Iterable[str],
        *,
        in_async: bool = False,
        outside_main: bool = False,
        where: Callable[[ast.Call], bool] | None = None,
    ) -> set[int]:
        """Lines of the calls that may resolve to one of ``targets`` (qualified names),
        optionally only inside ``async def``, outside main guards, or matching ``where``."""
        lines: set[int] = set()
        wanted = set(targets)
        lasts = {target.rpartition(".")[2] for target in wanted}
        self.calls  # noqa: B018
        spellings = lasts | {
            bound
            for bound, sources in self._bindings.items()
            if any(source.rpartition(".")[2] in lasts for source in sources)
        }
        for last in spellings:
            for fact in self._by_last.get(last, ()):
                if in_async and not fact.in_async:
                    continue
                if outside_main and self.in_main_guard(fact.node.lineno):
                    continue
                if where is not None and not where(fact.node):
                    continue
                if fact.dotted is not None and wanted & self.resolutions(fact.dotted):
                    lines.add(fact.node.lineno)
        return lines

    def named_call_lines(self, names: Iterable[str]) -> set[int]:
        """Lines of calls whose callee's last name is one of ``names`` or an alias of one."""
        self.calls  # noqa: B018
        lasts = set(names)
        spellings = lasts | {
            bound
            for bound, sources in self._bindings.items()
            if any(source.rpartition(".")[2] in lasts for source in sources)
        }
        return {fact.node.lineno for last in spellings for fact in self._by_last.get(last, ())}

    @property
    def line_starts(self) -> list[int]:
        """Byte offset where each line starts (index 0 is line 1)."""
        if self._line_starts is None:
            self._line_starts = [0] + [m.end() for m in _LINE_BREAK_BYTES.finditer(self.source)]
        return self._line_starts

    @property
    def encoding(self) -> str:
        return tokenize.detect_encoding(io.BytesIO(self.source).readline)[0]

    def regex_lines(self, pattern: re.Pattern[bytes]) -> set[int]:
        """Lines (counted like ``ast``) on which ``pattern`` matches the bytes."""
        starts = self.line_starts
        return {bisect.bisect_right(starts, m.start()) for m in pattern.finditer(self.source)}

    def method_calls(self, name: str) -> list[CallFact]:
        """Calls whose callee is an attribute ``name`` (``x.name(...)``, any receiver)."""
        self.calls  # noqa: B018
        return [
            fact
            for fact in self._by_last.get(name, ())
            if isinstance(fact.node.func, ast.Attribute)
        ]

    @property
    def main_ranges(self) -> list[tuple[int, int]]:
        """Line ranges of top-level ``if __name__ == "__main__":`` bodies."""
        if self._main_ranges is None:
            self._main_ranges = []
            for node in self.tree.body:
                if isinstance(node, ast.If) and _is_main_guard(node.test) and node.body:
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


def without_timeout(call: ast.Call, positional_index: int | None = None) -> bool:
    """No ``timeout=`` (other than ``None``), no ``*``/``**`` arguments, and no positional
    argument at ``positional_index``: the call may wait forever."""
    for keyword in call.keywords:
        if keyword.arg is None:
            return False
        if keyword.arg == "timeout":
            return isinstance(keyword.value, ast.Constant) and keyword.value.value is None
    if any(isinstance(arg, ast.Starred) for arg in call.args):
        return False
    return positional_index is None or len(call.args) <= positional_index


def _source_order(node: ast.AST) -> tuple[int, int, int, int]:
    return (
        getattr(node, "lineno", 0),
        getattr(node, "col_offset", 0),
        -(getattr(node, "end_lineno", 0) or 0),
        -(getattr(node, "end_col_offset", 0) or 0),
    )


def _is_main_guard(test: ast.expr) -> bool:
    if not (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Eq)
        and len(test.comparators) == 1
    ):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    strings = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(strings) == 1
