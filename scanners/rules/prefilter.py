"""The cheap tiers: what a file's bytes and its ``ast`` say before libcst is paid for.

libcst parses about ten times slower than :func:`ast.parse`, and most files cannot trigger
most rules. :class:`AstFacts` parses once with ``ast`` and answers, lazily and shared by
all rules of the file, conservative questions: the last names of all called callees, the
ones called directly inside an ``async def``, the names an import binds to a given
imported name (``from asyncio import get_event_loop as gel`` -> ``gel``), the line ranges
of top-level ``if __name__ == "__main__":`` blocks. "Conservative" means a rule may only
answer no when the precise check could not report anything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from scanners.finding import ParseFailure


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


def _last_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


class AstFacts:
    """Facts about one file from :mod:`ast`, each computed on first use."""

    def __init__(self, path: str, source: bytes) -> None:
        self.path = path
        self.source = source
        self._tree: ast.Module | None = None
        self._calls: dict[str, list[int]] | None = None
        self._async_calls: set[str] | None = None
        self._aliases: dict[str, set[str]] | None = None
        self._main_ranges: list[tuple[int, int]] | None = None

    @property
    def tree(self) -> ast.Module:
        if self._tree is None:
            try:
                self._tree = ast.parse(self.source, self.path)
            except (SyntaxError, ValueError, UnicodeError, RecursionError, MemoryError) as exc:
                raise parse_failure(exc) from None
        return self._tree

    def _walk(self) -> None:
        calls: dict[str, list[int]] = {}
        aliases: dict[str, set[str]] = {}
        async_defs: list[ast.AsyncFunctionDef] = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call):
                name = _last_name(node.func)
                if name is not None:
                    calls.setdefault(name, []).append(node.lineno)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    if alias.asname is not None:
                        last = alias.name.rpartition(".")[2]
                        aliases.setdefault(last, set()).add(alias.asname)
            elif isinstance(node, ast.AsyncFunctionDef):
                async_defs.append(node)
        async_calls: set[str] = set()
        for function in async_defs:
            stack: list[ast.AST] = list(function.body)
            while stack:
                node = stack.pop()
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    continue  # its own context (an async one is walked on its own)
                if isinstance(node, ast.Call):
                    name = _last_name(node.func)
                    if name is not None:
                        async_calls.add(name)
                stack.extend(ast.iter_child_nodes(node))
        self._calls, self._aliases, self._async_calls = calls, aliases, async_calls

    @property
    def calls(self) -> dict[str, list[int]]:
        """Last name of each called callee (``a.b.run(...)`` -> ``run``) -> lines."""
        if self._calls is None:
            self._walk()
        assert self._calls is not None
        return self._calls

    @property
    def async_calls(self) -> set[str]:
        """Last names of callees called directly inside an ``async def``."""
        if self._async_calls is None:
            self._walk()
        assert self._async_calls is not None
        return self._async_calls

    def spellings(self, names: Iterable[str]) -> set[str]:
        """``names`` plus every alias an import binds to one of them."""
        if self._aliases is None:
            self._walk()
        assert self._aliases is not None
        result = set(names)
        for name in list(result):
            result |= self._aliases.get(name, set())
        return result

    def calls_any(self, names: Iterable[str]) -> bool:
        return not self.spellings(names).isdisjoint(self.calls)

    def calls_any_in_async(self, names: Iterable[str]) -> bool:
        return not self.spellings(names).isdisjoint(self.async_calls)

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

    def calls_any_outside_main(self, names: Iterable[str]) -> bool:
        """A call named one of ``names`` on a line outside every top-level main guard."""
        ranges = self.main_ranges
        for name in self.spellings(names):
            for line in self.calls.get(name, ()):
                if not any(start <= line <= end for start, end in ranges):
                    return True
        return False


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
