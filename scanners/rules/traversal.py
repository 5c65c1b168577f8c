"""The precise tier: one libcst traversal that serves every selected rule of a file.

:class:`Dispatcher` walks the tree once, keeps the stack of enclosing nodes and *frames*
(function, class, main guard, ``TYPE_CHECKING`` block, timeout block), and hands each node to
the rules that asked for its type. Rules ask :class:`Context` what a name resolves to and
where they are; they report nodes, and positions are computed only when something was
reported, since libcst's position metadata costs nearly as much as the parse.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import libcst as cst

from scanners.finding import Finding
from scanners.rules.ast_facts import AstFacts
from scanners.rules.names import is_main_guard, is_type_checking
from scanners.rules.positions import locate as find_spans
from scanners.rules.rule import Context, Frame, Rule
from scanners.rules.scopes import ScopeTable

# Context managers that bound everything awaited inside them (GG006).
TIMEOUT_CONTEXTS = frozenset(
    {
        "asyncio.timeout",
        "asyncio.timeout_at",
        "asyncio.timeouts.timeout",
        "asyncio.timeouts.timeout_at",
        "async_timeout.timeout",
        "async_timeout.timeout_at",
        "anyio.fail_after",
        "anyio.move_on_after",
        "trio.fail_after",
        "trio.move_on_after",
    }
)


# Fields that never hold code: whitespace, brackets, punctuation, operators.
_SKIPPED_FIELDS = frozenset(
    {
        "lpar",
        "rpar",
        "lbracket",
        "rbracket",
        "lbrace",
        "rbrace",
        "comma",
        "semicolon",
        "leading_lines",
        "lines_after_decorators",
        "header",
        "footer",
        "equal",
        "colon",
        "first_colon",
        "second_colon",
        "star",
        "dot",
        "newline",
        "trailing_whitespace",
        "operator",
        "asynchronous",
        "default_indent",
        "default_newline",
        "encoding",
        "has_trailing_newline",
        "indent",
        "start",
        "end",
        "conversion",
        "relative",
    }
)
# Where the dataclass field order is not the source order.
_SOURCE_ORDER: dict[type[cst.CSTNode], tuple[str, ...]] = {
    cst.FunctionDef: ("decorators", "name", "type_parameters", "params", "returns", "body"),
    cst.ClassDef: ("decorators", "name", "type_parameters", "bases", "keywords", "body"),
    cst.IfExp: ("body", "test", "orelse"),
    cst.Parameters: (
        "posonly_params",
        "posonly_ind",
        "params",
        "star_arg",
        "kwonly_params",
        "star_kwarg",
    ),
    cst.ExceptHandler: ("type", "name", "body"),
    cst.ExceptStarHandler: ("type", "name", "body"),
    cst.MatchCase: ("pattern", "guard", "body"),
}
_CHILD_FIELDS: dict[type[cst.CSTNode], tuple[str, ...]] = {}


def _child_fields(node_type: type[cst.CSTNode]) -> tuple[str, ...]:
    fields = _CHILD_FIELDS.get(node_type)
    if fields is None:
        names = _SOURCE_ORDER.get(node_type) or tuple(f.name for f in dataclasses.fields(node_type))
        fields = tuple(
            name
            for name in names
            if name not in _SKIPPED_FIELDS and not name.startswith("whitespace")
        )
        _CHILD_FIELDS[node_type] = fields
    return fields


def children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The code-holding children of ``node`` in source order (no whitespace nodes).

    Much cheaper than libcst's own visitor, which rebuilds every node it passes.
    """
    result: list[cst.CSTNode] = []
    for name in _child_fields(type(node)):
        value: Any = getattr(node, name, None)
        value_type = type(value)
        if value_type is tuple or value_type is list:
            result.extend(value)  # libcst sequences hold nodes only
            continue
        is_node = _IS_NODE.get(value_type)
        if is_node is None:  # isinstance on libcst's ABCs is slow: decide once per type
            is_node = _IS_NODE[value_type] = issubclass(value_type, cst.CSTNode)
        if is_node:
            result.append(value)
    return result


_IS_NODE: dict[type, bool] = {}


# Node types whose positions are mapped from the ``ast`` tree (see :mod:`positions`).
COUNTED_TYPES = frozenset(
    {cst.Call, cst.Raise, cst.Import, cst.ImportFrom, cst.FunctionDef, cst.ClassDef}
)


_FRAME_TYPES = frozenset({cst.Lambda, cst.IndentedBlock, cst.SimpleStatementSuite})
# Node types without code-holding children.
_LEAF_TYPES = frozenset(
    {
        cst.Name,
        cst.Integer,
        cst.Float,
        cst.Imaginary,
        cst.SimpleString,
        cst.Ellipsis,
        cst.Pass,
        cst.Break,
        cst.Continue,
        cst.FormattedStringText,
    }
)


class Dispatcher:
    """Walks the module once, keeps :class:`Context` current and calls the rules.

    The walk is iterative (a 3,000-deep expression must not hit the recursion limit) and
    numbers the nodes of :data:`COUNTED_TYPES` in source order, which lets positions come
    from the ``ast`` tree instead of libcst's expensive position metadata.
    """

    def __init__(self, ctx: Context, rules: Sequence[Rule]) -> None:
        self.ctx = ctx
        self.handlers: dict[type[cst.CSTNode], list[Rule]] = {}
        for rule in rules:
            for node_type in rule.node_types:
                self.handlers.setdefault(node_type, []).append(rule)
        self.skipped = _LEAF_TYPES - set(self.handlers) - COUNTED_TYPES

    def _opened_frame(self, node: cst.CSTNode, parent: cst.CSTNode | None) -> Frame | None:
        ctx = self.ctx
        if isinstance(node, cst.Lambda):
            return Frame(node, "lambda")
        if parent is None or not isinstance(node, (cst.IndentedBlock, cst.SimpleStatementSuite)):
            return None
        if isinstance(parent, cst.FunctionDef) and node is parent.body:
            scope = ctx.scopes.by_node.get(id(parent))
            return Frame(parent, "function", scope, parent.asynchronous is not None)
        if isinstance(parent, cst.ClassDef) and node is parent.body:
            return Frame(parent, "class", ctx.scopes.by_node.get(id(parent)))
        if isinstance(parent, cst.If) and node is parent.body:
            if is_main_guard(parent.test):
                return Frame(parent, "main")
            if is_type_checking(parent.test):
                return Frame(parent, "type_checking")
        if isinstance(parent, cst.With) and parent.asynchronous is not None and node is parent.body:
            for item in parent.items:
                call = item.item
                if isinstance(call, cst.Call) and ctx.qualified_name(call.func) in TIMEOUT_CONTEXTS:
                    return Frame(parent, "timeout")
        return None

    def walk(self, root: cst.CSTNode) -> None:
        ctx = self.ctx
        handlers = self.handlers
        counts = ctx.counts
        ordinals = ctx.ordinals
        # Leaves nobody asked for (names, numbers, strings, operators: half of all nodes)
        # are not even pushed.
        skipped = self.skipped
        todo: list[tuple[cst.CSTNode, bool]] = [(root, False)]
        while todo:
            node, leaving = todo.pop()
            if leaving:
                ctx.stack.pop()
                if ctx.frames and ctx.frames[-1].opener is node:
                    ctx.frames.pop()
                continue
            node_type = type(node)
            if node_type in COUNTED_TYPES:
                ordinals[id(node)] = counts[node_type] = counts.get(node_type, 0) + 1
            if node_type in _FRAME_TYPES:
                frame = self._opened_frame(node, ctx.stack[-1] if ctx.stack else None)
                if frame is not None:
                    frame.opener = node
                    ctx.frames.append(frame)
            rules = handlers.get(node_type)
            if rules:
                for rule in rules:
                    rule.visit(node, ctx)
            ctx.stack.append(node)
            todo.append((node, True))
            todo.extend(
                (child, False) for child in reversed(children(node)) if type(child) not in skipped
            )


def normalised_source(module: cst.Module, node: cst.CSTNode) -> str:
    """The node's code with all whitespace runs collapsed to one space (baseline key)."""
    try:
        return " ".join(module.code_for_node(node).split())
    except RecursionError:  # codegen recurses; a very deep node is keyed by its type
        return type(node).__name__


def run(
    module: cst.Module,
    path: str,
    module_name: str,
    package: str,
    rules: Sequence[Rule],
    facts: AstFacts | None = None,
    *,
    locate: bool = True,
) -> tuple[Context, list[Finding]]:
    """Check ``module`` with ``rules``; the context keeps the reports (the fixer needs nodes).

    ``facts`` (the same file's ``ast``) makes positions cheap; without it libcst's
    position metadata is used.
    """
    ctx = Context(path, module, ScopeTable(module, module_name, package))
    Dispatcher(ctx, rules).walk(module)
    for rule in rules:
        rule.finish(ctx)
    if not ctx.reports or not locate:
        return ctx, []
    spans = find_spans(module, [r.node for r in ctx.reports], ctx.ordinals, ctx.counts, facts)
    findings = []
    for report, (line, column, end_line, end_column) in zip(ctx.reports, spans, strict=True):
        findings.append(
            Finding(
                path=path,
                line=line,
                column=column,
                rule=report.rule.code,
                name=report.rule.name,
                message=report.message,
                fixable=report.fixable,
                source=report.source or normalised_source(module, report.node),
                end_line=end_line,
                end_column=end_column,
            )
        )
    return ctx, findings
