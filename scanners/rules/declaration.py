"""What a rule declares it looks for, read the same way on both trees.

A rule's declaration (:class:`~scanners.rules.rule.Rule`'s ``calls``, ``methods``,
``keywords``, ``unless_given``, ...) is turned into the cheap tiers by
:mod:`scanners.rules.tiers`, on the file's ``ast``; the rule's own :meth:`visit` asks the
same questions on libcst nodes. The questions that both ask are answered here, once, for a
node of either tree, so that the cheap tier can never disagree with the precise one.
"""

from __future__ import annotations

import ast
from collections.abc import Collection
from dataclasses import dataclass

import libcst as cst

# The literals a declaration can ask for, as libcst spells them.
_NAMED_LITERALS = {"True": True, "False": False, "None": None}
_NO_LITERAL = object()
Node = ast.expr | cst.BaseExpression


def literal(node: Node) -> object:
    """The value of ``True``/``False``/``None`` (either tree), else a sentinel."""
    if isinstance(node, ast.Constant) and node.value in (True, False, None):
        return node.value
    if isinstance(node, cst.Name) and node.value in _NAMED_LITERALS:
        return _NAMED_LITERALS[node.value]
    return _NO_LITERAL


def _arguments(
    call: ast.Call | cst.Call,
) -> tuple[bool, list[tuple[str, Node]], list[Node]]:
    """``(has *args or **kwargs, [(keyword, value)], [positional values])``."""
    if isinstance(call, ast.Call):
        starred = any(k.arg is None for k in call.keywords) or any(
            isinstance(a, ast.Starred) for a in call.args
        )
        keywords: list[tuple[str, Node]] = [
            (k.arg, k.value) for k in call.keywords if k.arg is not None
        ]
        positional: list[Node] = list(call.args)
        return starred, keywords, positional
    starred = any(arg.star for arg in call.args)
    keywords = [(arg.keyword.value, arg.value) for arg in call.args if arg.keyword is not None]
    return starred, keywords, [arg.value for arg in call.args if arg.keyword is None]


def passes_keyword(call: ast.Call | cst.Call, keyword: str, value: bool | None) -> bool:
    """Whether ``call`` passes ``keyword=value`` with the literal ``value``
    (``shell=True``; a variable or ``**kwargs`` may be anything, so it does not count)."""
    _, keywords, _ = _arguments(call)
    return any(name == keyword and literal(given) is value for name, given in keywords)


@dataclass(frozen=True)
class Argument:
    """An argument of a call by keyword and, optionally, position: ``Argument("timeout")``
    for ``subprocess.run``, ``Argument("timeout", 1)`` for ``communicate(input, timeout)``."""

    keyword: str
    position: int | None = None

    def given(self, call: ast.Call | cst.Call) -> bool:
        """Whether ``call`` passes it as anything but ``None``, or may (``*args``,
        ``**kwargs``: the argument may be inside, and a rule that cannot know must not
        guess)."""
        starred, keywords, positional = _arguments(call)
        if starred:
            return True
        for name, value in keywords:
            if name == self.keyword:
                return literal(value) is not None
        if self.position is None or len(positional) <= self.position:
            return False
        return literal(positional[self.position]) is not None


def module_among(name: str, modules: Collection[str]) -> str | None:
    """The entry of ``modules`` that ``name`` is, or is a submodule of."""
    for module in modules:
        if name == module or name.startswith(module + "."):
            return module
    return None
