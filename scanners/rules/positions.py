"""Positions of reported nodes, without libcst's position metadata when possible.

libcst computes positions by generating the code of the whole module, which costs about
as much as parsing it. The ``ast`` tree of the same file already knows every position, so a
reported libcst node is matched to the ``ast`` node of the same kind with the same
source-order number (the dispatcher numbers calls, raises, imports and definitions as it
walks). The match is checked (same count per kind, same callee name for calls); if
anything disagrees, the positions come from libcst's ``PositionProvider`` after all.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from scanners.rules.ast_facts import AstFacts

Span = tuple[int, int, int, int]  # line, column, end line, end column (1-based columns)

_AST_TYPE: dict[type[cst.CSTNode], type[ast.AST]] = {
    cst.Call: ast.Call,
    cst.Raise: ast.Raise,
    cst.Import: ast.Import,
    cst.ImportFrom: ast.ImportFrom,
    cst.FunctionDef: ast.FunctionDef,
    cst.ClassDef: ast.ClassDef,
}


def _cst_last_name(node: cst.Call) -> str | None:
    func = node.func
    if isinstance(func, cst.Attribute):
        return func.attr.value
    if isinstance(func, cst.Name):
        return func.value
    return None


def _ast_last_name(node: ast.AST) -> str | None:
    func = getattr(node, "func", None)
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _from_ast(
    nodes: Sequence[cst.CSTNode],
    ordinals: dict[int, int],
    counts: dict[type[cst.CSTNode], int],
    facts: AstFacts,
) -> list[Span] | None:
    lists: dict[type[cst.CSTNode], list[ast.AST]] = {}
    spans: list[Span] = []
    for node in nodes:
        node_type = type(node)
        ordinal = ordinals.get(id(node))
        if node_type not in _AST_TYPE or ordinal is None:
            return None
        if node_type not in lists:
            lists[node_type] = facts.node_list(_AST_TYPE[node_type])
            if len(lists[node_type]) != counts.get(node_type, 0):
                return None
        twin = lists[node_type][ordinal - 1]
        if isinstance(node, cst.Call) and _cst_last_name(node) != _ast_last_name(twin):
            return None
        line, col = twin.lineno, twin.col_offset  # type: ignore[attr-defined]
        end_line = twin.end_lineno or line  # type: ignore[attr-defined]
        end_col = twin.end_col_offset or col  # type: ignore[attr-defined]
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            # Point at the name, like ruff: `def run` -> `run`.
            text = facts.line(line)
            prefix = text.encode("utf-8")[:col].decode("utf-8", "replace")
            found = re.compile(r"(?:async\s+)?(?:def|class)\s+(\w+)").match(text, len(prefix))
            if found and found.group(1) == node.name.value:
                start = found.start(1)
                spans.append((line, start + 1, line, found.end(1) + 1))
                continue
        spans.append((line, facts.column(line, col), end_line, facts.column(end_line, end_col)))
    return spans


def _from_libcst(module: cst.Module, nodes: Sequence[cst.CSTNode]) -> list[Span]:
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    spans: list[Span] = []
    for node in nodes:
        target = node.name if isinstance(node, (cst.FunctionDef, cst.ClassDef)) else node
        where = positions[target]
        spans.append(
            (where.start.line, where.start.column + 1, where.end.line, where.end.column + 1)
        )
    return spans


def locate(
    module: cst.Module,
    nodes: Sequence[cst.CSTNode],
    ordinals: dict[int, int],
    counts: dict[type[cst.CSTNode], int],
    facts: AstFacts | None,
) -> list[Span]:
    """The span of each of ``nodes``."""
    if facts is not None:
        try:
            spans = _from_ast(nodes, ordinals, counts, facts)
        except Exception:  # any disagreement: fall back to the slow, certain way
            spans = None
        if spans is not None:
            return spans
    try:
        return _from_libcst(module, nodes)
    except RecursionError:  # codegen recurses: report where the file starts rather than fail
        return [(1, 1, 1, 1) for _ in nodes]
