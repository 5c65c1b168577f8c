"""Name resolution: which imported thing does ``aio.get_event_loop`` mean?

libcst's ``QualifiedNameProvider`` answers this precisely but costs more than parsing itself,
so the rules use this smaller model instead. One statement-level pass (expressions are never
walked) records, per scope (module, each function and class), the names bound by imports and
the names bound any other way (parameters, assignments, ``for``/``with``/``except`` targets,
nested ``def``/``class``). A name then resolves like Python's LEGB lookup: the innermost
function scope first, enclosing functions, the module; class bodies only for code written
directly in them. A name bound locally by anything but an import hides outer imports, so
``def f(asyncio): asyncio.get_event_loop()`` is not the module's function.

Known simplifications: ``from m import *`` binds nothing we can see; walrus targets and
comprehension variables do not shadow; re-binding an imported name by assignment in the same
scope keeps the import (imports win).
"""

from __future__ import annotations

import ast
import builtins
import functools
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import libcst as cst

BUILTIN_NAMES = frozenset(dir(builtins))


@functools.lru_cache(maxsize=4096)
def _package_dir_parts(directory: str) -> tuple[str, ...]:
    """The package that ``directory`` is, as dotted parts, found by walking up ``__init__.py``."""
    parts: list[str] = []
    current = os.path.abspath(directory)
    while os.path.isfile(os.path.join(current, "__init__.py")):
        parent, name = os.path.split(current)
        if not name or not name.isidentifier():
            break
        parts.append(name)
        if parent == current:
            break
        current = parent
    return tuple(reversed(parts))


@functools.lru_cache(maxsize=256)
def module_name_for(path: str) -> tuple[str, str]:
    """``(module, package)`` dotted names of the file at ``path``.

    On disk, the package is found by walking up directories that hold ``__init__.py``
    (``asyncio/tasks.py`` -> ``asyncio.tasks``). For a path that does not exist (rule
    examples, editors' unsaved buffers) every directory component counts as a package.
    """
    posix = path.replace("\\", "/")
    directory, _, filename = posix.rpartition("/")
    stem = filename[:-3] if filename.endswith(".py") else filename
    if os.path.exists(path):
        package_parts = list(_package_dir_parts(directory or "."))
    else:
        package_parts = [p for p in directory.split("/") if p and p not in (".", "..")]
        if not all(p.isidentifier() for p in package_parts):
            package_parts = []
    package = ".".join(package_parts)
    if stem == "__init__":
        return package, package
    module = f"{package}.{stem}" if package else stem
    return module, package


def resolve_relative(package: str, level: int, module: str | None) -> str | None:
    """Absolute name of ``from {'.' * level}{module} import ...`` inside ``package``."""
    if level == 0:
        return module
    if not package:
        return None  # a relative import outside a known package: cannot tell what it is
    parts = package.split(".")
    if level - 1 > len(parts) or (level - 1 == len(parts) and not module):
        return None
    base = parts[: len(parts) - (level - 1)]
    if module:
        base.append(module)
    return ".".join(base) or None


def dotted_name(node: cst.BaseExpression | ast.expr) -> str | None:
    """``a.b.c`` for a chain of attributes over a name, else None; for a libcst node and
    for an ``ast`` node alike, so that both tiers read a callee the same way."""
    parts: list[str] = []
    while True:
        node_type = type(node)
        if node_type is ast.Attribute:
            parts.append(node.attr)  # type: ignore[union-attr]
            node = node.value  # type: ignore[union-attr]
        elif node_type is cst.Attribute:
            parts.append(node.attr.value)  # type: ignore[union-attr]
            node = node.value  # type: ignore[union-attr]
        elif node_type is ast.Name:
            parts.append(node.id)  # type: ignore[union-attr]
            break
        elif node_type is cst.Name:
            parts.append(node.value)  # type: ignore[union-attr]
            break
        else:
            return None
    return ".".join(reversed(parts))


def qualify(written: str, target: str | None) -> str | None:
    """What the dotted name ``written`` stands for when its head is bound by an import of
    ``target`` (``aio.sleep`` with ``aio`` -> ``asyncio``: ``asyncio.sleep``), or, with no
    import (None), as a builtin (``builtins.exit``) when there is a builtin of that name.

    Both tiers resolve through this: the precise one with the import that binds the head
    in scope, the ``ast`` one with every import that binds it anywhere in the file.
    """
    head, dot, rest = written.partition(".")
    if target is None:
        return f"builtins.{written}" if head in BUILTIN_NAMES else None
    return f"{target}.{rest}" if dot else target


def import_bindings(
    aliases: Iterable[tuple[str, str | None]],
) -> Iterator[tuple[str, str]]:
    """``(bound name, imported target)`` of ``import a.b``, ``import a.b as c``: the first
    binds ``a`` to ``a``, the second ``c`` to ``a.b``."""
    for name, asname in aliases:
        if asname:
            yield asname, name
        else:
            head = name.partition(".")[0]
            yield head, head


def from_import_bindings(
    package: str, level: int, module: str | None, aliases: Iterable[tuple[str, str | None]]
) -> Iterator[tuple[str, str | None]]:
    """``(bound name, qualified target)`` of ``from {'.' * level}{module} import ...``; the
    target is None for a relative import that cannot be resolved (a local name then)."""
    base = resolve_relative(package, level, module)
    for name, asname in aliases:
        yield asname or name, None if base is None else f"{base}.{name}"


def imported_modules(
    node: cst.Import | cst.ImportFrom | ast.Import | ast.ImportFrom, package: str
) -> list[str]:
    """The qualified names an import statement imports: ``import a.b`` -> ``a.b``;
    ``from .m import x`` (in package ``p``) -> ``p.m`` and ``p.m.x`` (``x`` may be a
    module). Either tree; an unresolvable relative import gives nothing."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, cst.Import):
        return [name for alias in node.names if (name := dotted_name(alias.name))]
    if isinstance(node, ast.ImportFrom):
        level, module = node.level, node.module
        names = [alias.name for alias in node.names if alias.name != "*"]
    else:
        level = len(node.relative)
        module = dotted_name(node.module) if node.module is not None else None
        names = []
        if not isinstance(node.names, cst.ImportStar):
            names = [alias.name.value for alias in node.names if isinstance(alias.name, cst.Name)]
    base = resolve_relative(package, level, module)
    return [] if base is None else [base, *(f"{base}.{name}" for name in names)]


@dataclass
class Scope:
    """Bindings of one module, function or class body."""

    kind: str  # "module" | "function" | "class"
    parent: Scope | None
    imports: dict[str, str] = field(default_factory=dict)
    local: set[str] = field(default_factory=set)
    globals: set[str] = field(default_factory=set)

    def lookup_chain(self) -> Iterator[Scope]:
        """Scopes searched from code directly in this scope (class bodies skipped above)."""
        yield self
        scope = self.parent
        while scope is not None:
            if scope.kind != "class":
                yield scope
            scope = scope.parent


def _target_names(target: cst.BaseExpression) -> Iterator[str]:
    if isinstance(target, cst.Name):
        yield target.value
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from _target_names(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from _target_names(target.value)


class ScopeTable:
    """The scopes of one module, keyed by the ``FunctionDef``/``ClassDef`` node that opens them."""

    def __init__(self, module: cst.Module, module_name: str, package: str) -> None:
        self.module_name = module_name
        self.package = package
        self.module_scope = Scope("module", None)
        self.by_node: dict[int, Scope] = {}
        self._collect(module.body, self.module_scope)

    # -- building -------------------------------------------------------------------------

    def _collect(self, body: Sequence[cst.CSTNode], scope: Scope) -> None:
        for statement in body:
            self._statement(statement, scope)

    def _block(self, block: cst.BaseSuite | None, scope: Scope) -> None:
        if isinstance(block, (cst.IndentedBlock, cst.SimpleStatementSuite)):
            self._collect(block.body, scope)

    def _statement(self, node: cst.CSTNode, scope: Scope) -> None:
        if isinstance(node, cst.SimpleStatementLine):
            self._collect(node.body, scope)
        elif isinstance(node, cst.Import):
            written_aliases = [(dotted_name(alias.name), _asname(alias)) for alias in node.names]
            pairs = ((n, a) for n, a in written_aliases if n is not None)
            for bound, imported in import_bindings(pairs):
                scope.imports[bound] = imported
        elif isinstance(node, cst.ImportFrom):
            if isinstance(node.names, cst.ImportStar):
                return
            written = dotted_name(node.module) if node.module is not None else None
            aliases = [
                (alias.name.value, _asname(alias))
                for alias in node.names
                if isinstance(alias.name, cst.Name)
            ]
            for bound, resolved in from_import_bindings(
                self.package, len(node.relative), written, aliases
            ):
                if resolved is None:
                    scope.local.add(bound)  # unresolvable relative import: a local name
                else:
                    scope.imports[bound] = resolved
        elif isinstance(node, (cst.Assign,)):
            for target in node.targets:
                scope.local.update(_target_names(target.target))
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign)):
            scope.local.update(_target_names(node.target))
        elif isinstance(node, (cst.Global, cst.Nonlocal)):
            if isinstance(node, cst.Global):
                scope.globals.update(item.name.value for item in node.names)
        elif isinstance(node, cst.FunctionDef):
            scope.local.add(node.name.value)
            inner = Scope("function", scope)
            self.by_node[id(node)] = inner
            params = node.params
            for param in (*params.posonly_params, *params.params, *params.kwonly_params):
                inner.local.add(param.name.value)
            for star in (params.star_arg, params.star_kwarg):
                if isinstance(star, cst.Param):
                    inner.local.add(star.name.value)
            self._block(node.body, inner)
            inner.local -= inner.globals
        elif isinstance(node, cst.ClassDef):
            scope.local.add(node.name.value)
            inner = Scope("class", scope)
            self.by_node[id(node)] = inner
            self._block(node.body, inner)
        elif isinstance(node, cst.If):
            self._block(node.body, scope)
            if node.orelse is not None:
                if isinstance(node.orelse, cst.If):
                    self._statement(node.orelse, scope)
                else:
                    self._block(node.orelse.body, scope)
        elif isinstance(node, (cst.For, cst.While)):
            if isinstance(node, cst.For):
                scope.local.update(_target_names(node.target))
            self._block(node.body, scope)
            if node.orelse is not None:
                self._block(node.orelse.body, scope)
        elif isinstance(node, (cst.Try, cst.TryStar)):
            self._block(node.body, scope)
            for handler in node.handlers:
                if handler.name is not None:
                    scope.local.update(_target_names(handler.name.name))
                self._block(handler.body, scope)
            if node.orelse is not None:
                self._block(node.orelse.body, scope)
            if node.finalbody is not None:
                self._block(node.finalbody.body, scope)
        elif isinstance(node, cst.With):
            for item in node.items:
                if item.asname is not None:
                    scope.local.update(_target_names(item.asname.name))
            self._block(node.body, scope)
        elif isinstance(node, cst.Match):
            for case in node.cases:
                self._block(case.body, scope)

    # -- lookup ---------------------------------------------------------------------------

    def resolve(self, name: str, scope: Scope) -> str | None:
        """Qualified name of a dotted ``name`` used in ``scope``, if its head is imported.

        Builtins that nothing shadows resolve to ``builtins.X``; anything bound locally
        (variables, parameters, local functions) resolves to None.
        """
        head = name.partition(".")[0]
        for candidate in scope.lookup_chain():
            if head in candidate.globals:
                continue
            if head in candidate.imports:
                return qualify(name, candidate.imports[head])
            if head in candidate.local:
                return None
        return qualify(name, None)

    def is_import_bound(self, name: str, scope: Scope) -> bool:
        head = name.split(".", 1)[0]
        resolved = self.resolve(head, scope)
        return resolved is not None and not resolved.startswith("builtins.")


def is_main_guard(test: cst.BaseExpression | ast.expr) -> bool:
    """``__name__ == "__main__"`` (either side, any quotes), in either tree."""
    if isinstance(test, ast.Compare):
        if len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
            return False
        sides: tuple[object, object] = (test.left, test.comparators[0])
    elif isinstance(test, cst.Comparison):
        if len(test.comparisons) != 1 or not isinstance(test.comparisons[0].operator, cst.Equal):
            return False
        sides = (test.left, test.comparisons[0].comparator)
    else:
        return False
    names = [s for s in sides if _identifier(s) == "__name__"]
    strings = [s for s in sides if _string(s) == "__main__"]
    return len(names) == 1 and len(strings) == 1


def _identifier(node: object) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    return node.value if isinstance(node, cst.Name) else None


def _string(node: object) -> object:
    if isinstance(node, ast.Constant):
        return node.value
    return node.evaluated_value if isinstance(node, cst.SimpleString) else None


def _asname(alias: cst.ImportAlias) -> str | None:
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    return None


def is_type_checking(test: cst.BaseExpression) -> bool:
    """``TYPE_CHECKING`` or ``<anything>.TYPE_CHECKING`` (``typing.TYPE_CHECKING``)."""
    if isinstance(test, cst.Name):
        return test.value == "TYPE_CHECKING"
    return isinstance(test, cst.Attribute) and test.attr.value == "TYPE_CHECKING"


def raised_class(node: cst.Raise | ast.Raise) -> cst.BaseExpression | ast.expr | None:
    """What a ``raise`` raises, as written: ``E`` for ``raise E`` and ``raise E(...)``."""
    exc = node.exc
    if isinstance(exc, (ast.Call, cst.Call)):
        return exc.func
    return exc
