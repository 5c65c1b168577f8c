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

import builtins
import functools
import os
from collections.abc import Iterator, Sequence
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


def dotted_name(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a chain of attributes over a name, else None."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


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
            for alias in node.names:
                full = dotted_name(alias.name)
                if full is None:
                    continue
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    scope.imports[alias.asname.name.value] = full
                else:
                    head = full.split(".", 1)[0]
                    scope.imports[head] = head
        elif isinstance(node, cst.ImportFrom):
            if isinstance(node.names, cst.ImportStar):
                return
            written = dotted_name(node.module) if node.module is not None else None
            base = resolve_relative(self.package, len(node.relative), written)
            for alias in node.names:
                if not isinstance(alias.name, cst.Name):
                    continue
                bound = alias.name.value
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    bound = alias.asname.name.value
                if base is None:
                    scope.local.add(bound)  # unresolvable relative import: a local name
                else:
                    scope.imports[bound] = f"{base}.{alias.name.value}"
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
        head, dot, rest = name.partition(".")
        for candidate in scope.lookup_chain():
            if head in candidate.globals:
                continue
            if head in candidate.imports:
                target = candidate.imports[head]
                return f"{target}.{rest}" if dot else target
            if head in candidate.local:
                return None
        if head in BUILTIN_NAMES:
            return f"builtins.{name}"
        return None

    def is_import_bound(self, name: str, scope: Scope) -> bool:
        head = name.split(".", 1)[0]
        resolved = self.resolve(head, scope)
        return resolved is not None and not resolved.startswith("builtins.")


def is_main_guard(test: cst.BaseExpression) -> bool:
    """``__name__ == "__main__"`` (either side, any quotes)."""
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return False
    target = test.comparisons[0]
    if not isinstance(target.operator, cst.Equal):
        return False
    sides = (test.left, target.comparator)
    names = [s for s in sides if isinstance(s, cst.Name) and s.value == "__name__"]
    strings = [
        s for s in sides if isinstance(s, cst.SimpleString) and s.evaluated_value == "__main__"
    ]
    return len(names) == 1 and len(strings) == 1


def is_type_checking(test: cst.BaseExpression) -> bool:
    """``TYPE_CHECKING`` or ``<anything>.TYPE_CHECKING`` (``typing.TYPE_CHECKING``)."""
    if isinstance(test, cst.Name):
        return test.value == "TYPE_CHECKING"
    return isinstance(test, cst.Attribute) and test.attr.value == "TYPE_CHECKING"
