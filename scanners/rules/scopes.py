"""Scopes: which imported thing does ``aio.get_event_loop`` mean where it is written?

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

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import libcst as cst

from scanners.rules.names import dotted_name, from_import_bindings, import_bindings, qualify


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


def _asname(alias: cst.ImportAlias) -> str | None:
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    return None
