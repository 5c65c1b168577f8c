"""``--fix``: one fixer for every rule's fixes, built-in or third-party.

A rule offers a fix by reporting a violation with a ``replacement`` node
(:meth:`scanners.rules.rule.Context.report`); the fixer puts each replacement in its node's
place, leaving everything else (comments, spacing, the way a module was imported) as it
was. The result is parsed again and checked again, and a fix that does not make its
violations disappear (or that no longer parses) is not applied. A replacement nested in
another one's node is applied in a later pass, up to :data:`MAX_PASSES`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

import libcst as cst

from pytest_gridgate.settings import ScanSettings
from scanners.finding import ParseFailure
from scanners.rules.checker import violations

MAX_PASSES = 3
CSTNodeT = TypeVar("CSTNodeT", bound=cst.CSTNode)


class _Replace(cst.CSTTransformer):
    def __init__(self, replacements: dict[int, cst.CSTNode]) -> None:
        super().__init__()
        self.replacements = replacements

    def on_leave(
        self, original_node: CSTNodeT, updated_node: CSTNodeT
    ) -> CSTNodeT | cst.RemovalSentinel | cst.FlattenSentinel[CSTNodeT]:
        replacement = self.replacements.get(id(original_node))
        # A replacement stands for a node of the same role (an expression for an
        # expression); libcst checks that when the module is turned back into code.
        return updated_node if replacement is None else cast(CSTNodeT, replacement)


def _replacements(
    path: str, source: bytes, settings: ScanSettings, selected: Callable[[str], bool]
) -> tuple[cst.Module, dict[int, cst.CSTNode]] | None:
    found = violations(path, source, settings, selected, fixable_only=True)
    if found is None:
        return None
    module, reported = found
    replacements: dict[int, cst.CSTNode] = {}
    for violation in reported:
        if violation.replacement is not None:
            # Two fixes of one node: the first wins, the next pass sees what is left.
            replacements.setdefault(id(violation.node), violation.replacement)
    return (module, replacements) if replacements else None


def fix_python(
    path: str,
    source: bytes,
    settings: ScanSettings,
    selected: Callable[[str], bool] = lambda code: True,
) -> bytes | None:
    """The source with every fix of the ``selected`` rules applied, or None when nothing
    is fixable (or the fix cannot be proven). Raises :class:`ParseFailure` for a file that
    does not parse: such a file is never touched."""
    fixed = source
    for _ in range(MAX_PASSES):
        try:
            found = _replacements(path, fixed, settings, selected)
        except ParseFailure:
            if fixed is source:
                raise
            return None  # the fixed code does not parse: keep the file as it was
        if found is None:
            return None if fixed is source else fixed
        module, replacements = found
        try:
            fixed = module.visit(_Replace(replacements)).bytes
        except RecursionError:  # libcst's transformer and codegen recurse; leave such files be
            return None
    return None  # still fixable after every pass: the fixes do not converge
