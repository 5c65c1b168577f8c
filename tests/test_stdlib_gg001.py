"""Real code: the interpreter's own standard library.

GG001 must report exactly the calls of ``asyncio.get_event_loop``. The reference is an
independent counter below, written against :mod:`ast` (not libcst) with its own scope
model: it resolves ``import x as y``, ``from x import y as z``, ``from asyncio import
events`` and relative imports (the package found by walking up ``__init__.py``) the same
way the rule documents it, and shares no code with ``scanners``.
"""

from __future__ import annotations

import ast
import builtins
import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_gridgate.settings import ScanSettings
from scanners.finding import Finding, ParseFailure
from scanners.rules import check_python

TARGETS = {"asyncio.get_event_loop", "asyncio.events.get_event_loop"}


def stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(
        path
        for path in root.rglob("*.py")
        if "site-packages" not in path.parts and "dist-packages" not in path.parts
    )


# --------------------------------------------------------------------- the independent counter


def package_of(path: Path) -> str:
    parts: list[str] = []
    directory = path.resolve().parent
    while (directory / "__init__.py").is_file() and directory.name.isidentifier():
        parts.insert(0, directory.name)
        directory = directory.parent
    return ".".join(parts)


def absolute(package: str, level: int, module: str | None) -> str | None:
    if level == 0:
        return module
    if not package:
        return None
    parts = package.split(".")
    keep = len(parts) - (level - 1)
    if keep < 0 or (keep == 0 and not module):
        return None
    return ".".join([*parts[:keep], *([module] if module else [])]) or None


class Bindings:
    def __init__(self, kind: str, parent: Bindings | None) -> None:
        self.kind = kind
        self.parent = parent
        self.imported: dict[str, str] = {}
        self.other: set[str] = set()
        self.declared_global: set[str] = set()


class Counter(ast.NodeVisitor):
    """Collects bindings per scope first, then resolves every call."""

    def __init__(self, package: str) -> None:
        self.package = package
        self.scope_of: dict[ast.AST, Bindings] = {}
        self.found: list[tuple[int, int]] = []

    # pass 1: bindings, statement by statement (like the rule: no walrus/comprehensions)
    def bind(self, body: list[ast.stmt], scope: Bindings) -> None:
        for stmt in body:
            self.bind_stmt(stmt, scope)

    def bind_names(self, target: ast.AST, scope: Bindings) -> None:
        if isinstance(target, ast.Name):
            scope.other.add(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self.bind_names(element, scope)
        elif isinstance(target, ast.Starred):
            self.bind_names(target.value, scope)

    def bind_stmt(self, stmt: ast.stmt, scope: Bindings) -> None:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    scope.imported[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    scope.imported[head] = head
        elif isinstance(stmt, ast.ImportFrom):
            base = absolute(self.package, stmt.level, stmt.module)
            for alias in stmt.names:
                if alias.name == "*":
                    continue
                name = alias.asname or alias.name
                if base is None:
                    scope.other.add(name)
                else:
                    scope.imported[name] = f"{base}.{alias.name}"
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scope.other.add(stmt.name)
            inner = Bindings("function", scope)
            self.scope_of[stmt] = inner
            args = stmt.args
            for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs):
                inner.other.add(arg.arg)
            for arg in (args.vararg, args.kwarg):
                if arg is not None:
                    inner.other.add(arg.arg)
            self.bind(stmt.body, inner)
            inner.other -= inner.declared_global
        elif isinstance(stmt, ast.ClassDef):
            scope.other.add(stmt.name)
            inner = Bindings("class", scope)
            self.scope_of[stmt] = inner
            self.bind(stmt.body, inner)
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                self.bind_names(target, scope)
        elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign)):
            self.bind_names(stmt.target, scope)
        elif isinstance(stmt, ast.Global):
            scope.declared_global.update(stmt.names)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            self.bind_names(stmt.target, scope)
            self.bind(stmt.body, scope)
            self.bind(stmt.orelse, scope)
        elif isinstance(stmt, (ast.While, ast.If)):
            self.bind(stmt.body, scope)
            self.bind(stmt.orelse, scope)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                if item.optional_vars is not None:
                    self.bind_names(item.optional_vars, scope)
            self.bind(stmt.body, scope)
        elif isinstance(stmt, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            self.bind(stmt.body, scope)
            for handler in stmt.handlers:
                if handler.name:
                    scope.other.add(handler.name)
                self.bind(handler.body, scope)
            self.bind(stmt.orelse, scope)
            self.bind(stmt.finalbody, scope)
        elif isinstance(stmt, ast.Match):
            for case in stmt.cases:
                self.bind(case.body, scope)

    # pass 2: calls, with the scope they are evaluated in
    def resolve(self, name: str, scope: Bindings) -> str | None:
        head, _, rest = name.partition(".")
        current: Bindings | None = scope
        first = True
        while current is not None:
            if (first or current.kind != "class") and head not in current.declared_global:
                if head in current.imported:
                    target = current.imported[head]
                    return f"{target}.{rest}" if rest else target
                if head in current.other:
                    return None
            first = False
            current = current.parent
        return f"builtins.{name}" if hasattr(builtins, head) else None

    def calls(self, node: ast.AST, scope: Bindings) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                # decorators, defaults, bases: evaluated outside; the body: inside
                outside = [*child.decorator_list]
                if isinstance(child, ast.ClassDef):
                    outside += [*child.bases, *(k.value for k in child.keywords)]
                else:
                    args = child.args
                    outside += [d for d in (*args.defaults, *args.kw_defaults) if d]
                    outside += [
                        a.annotation
                        for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)
                        if a.annotation
                    ]
                    outside += [child.returns] if child.returns else []
                for expr in outside:
                    self.calls_in(expr, scope)
                for stmt in child.body:
                    self.calls_in(stmt, self.scope_of[child])
            else:
                self.calls_in(child, scope)

    def calls_in(self, node: ast.AST, scope: Bindings) -> None:
        if isinstance(node, ast.Call):
            name = dotted(node.func)
            if name is not None and self.resolve(name, scope) in TARGETS:
                self.found.append((node.lineno, node.col_offset))
        self.calls(node, scope)


def dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def independent_gg001(path: Path, source: bytes) -> set[tuple[int, int]]:
    # A call that resolves to get_event_loop names it somewhere (the import, at least).
    if b"get_event_loop" not in source:
        return set()
    tree = ast.parse(source)
    counter = Counter(package_of(path))
    module = Bindings("module", None)
    counter.bind(tree.body, module)
    counter.calls(tree, module)
    lines = source.decode("utf-8").splitlines()
    return {(line, len(lines[line - 1].encode()[:col].decode()) + 1) for line, col in counter.found}


# --------------------------------------------------------------------------------- the tests


def files_with_sources() -> Iterator[tuple[Path, bytes]]:
    for path in stdlib_files():
        yield path, path.read_bytes()


def test_gg001_reports_exactly_the_calls_of_asyncio_get_event_loop(tmp_path: Path) -> None:
    expected: dict[str, set[tuple[int, int]]] = {}
    reported: dict[str, set[tuple[int, int]]] = {}
    for path, source in files_with_sources():
        try:
            found = check_python(str(path), source, ScanSettings(), lambda code: code == "GG001")
        except ParseFailure:
            with pytest.raises(SyntaxError):
                compile(source, str(path), "exec", dont_inherit=True)
            continue
        assert all(f.rule == "GG001" for f in found)
        if found:
            reported[str(path)] = {(f.line, f.column) for f in found}
        if independent := independent_gg001(path, source):
            expected[str(path)] = independent
    assert reported == expected
    # The standard library does call it (asyncio's own tests, at least): the check has teeth.
    assert sum(map(len, expected.values())) > 0
    # The same through the command line a user runs: discovery, workers, selection, JSON.
    assert _gg001_from_the_command_line(tmp_path) == expected


def _gg001_from_the_command_line(tmp_path: Path) -> dict[str, set[tuple[int, int]]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    config = tmp_path / "gridgate.yaml"
    config.write_text("scan:\n  exclude: [site-packages, dist-packages]\n")
    options = ["--config", str(config), "--select", "GG001", "--no-cache", "--format", "json"]
    completed = subprocess.run(
        [sys.executable, "-m", "scanners", ".", *options],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 1, completed.stderr
    found: dict[str, set[tuple[int, int]]] = {}
    for finding in json.loads(completed.stdout)["findings"]:
        assert finding["rule"] == "GG001"
        found.setdefault(str(root / finding["path"]), set()).add(
            (finding["line"], finding["column"])
        )
    return found


def test_every_rule_on_every_stdlib_file_without_a_crash() -> None:
    failures = []
    findings = 0
    for path, source in files_with_sources():
        try:
            findings += len(check_python(str(path), source, ScanSettings(), lambda code: True))
        except ParseFailure as failure:
            failures.append((str(path), failure.message))
    # Only files that really are not Python 3 (lib2to3's test data, test/badsyntax_*).
    for path, _ in failures:
        with pytest.raises(SyntaxError):
            compile(Path(path).read_bytes(), path, "exec", dont_inherit=True)
    assert findings > 0


def test_independent_counter_resolves_like_the_rule(tmp_path: Path) -> None:
    # The counter must see what the rule sees, or the comparison above proves nothing.
    package = tmp_path / "asyncio"
    package.mkdir()
    (package / "__init__.py").write_text("")
    source = (
        b"from . import events\nfrom .events import get_event_loop as gel\n"
        b"import asyncio as aio\nevents.get_event_loop()\ngel()\naio.get_event_loop()\n"
        b"def f(aio):\n    aio.get_event_loop()\n"
    )
    path = package / "tasks.py"
    path.write_bytes(source)
    assert independent_gg001(path, source) == {(4, 1), (5, 1), (6, 1)}
    found = check_python(str(path), source, ScanSettings(), lambda code: code == "GG001")
    assert {(f.line, f.column) for f in found} == {(4, 1), (5, 1), (6, 1)}
    assert os.path.exists(path)


def test_skeletons_and_ast_positions_change_no_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    # Parsing only the needed top-level definitions must give exactly the full parse's
    # findings (positions and sources included) on real files with many findings.
    from scanners.rules import skeleton

    root = Path(sysconfig.get_paths()["stdlib"])
    names = ["subprocess.py", "os.py", "asyncio/base_events.py", "test/test_subprocess.py"]
    names += ["test/test_asyncio/test_subprocess.py", "test/test_asyncio/test_events.py"]
    paths = [root / name for name in names if (root / name).is_file()]
    assert len(paths) >= 4

    def scan() -> list[list[Finding]]:
        return [
            check_python(str(path), path.read_bytes(), ScanSettings(), lambda code: True)
            for path in paths
        ]

    with_skeletons = scan()
    monkeypatch.setattr(skeleton, "MIN_SAVING", 2.0)  # never worth it: full parses
    assert scan() == with_skeletons
    assert sum(map(len, with_skeletons)) > 100

    # Positions come from the ast twin of each node; libcst's own metadata must agree.
    from scanners.rules import positions

    monkeypatch.setattr(positions, "_from_ast", lambda *args: None)
    assert scan() == with_skeletons
