"""``--fix``: rewrite GG001 inside ``async def`` to ``asyncio.get_running_loop()``.

Only the callee changes (``aio.get_event_loop`` -> ``aio.get_running_loop``), so comments,
spacing and the way ``asyncio`` was imported stay as they were. The result is parsed again
and GG001 re-run on it; a fix that would not make its findings disappear is not applied.
"""

from __future__ import annotations

import libcst as cst

from pytest_gridgate.config import ScanSettings
from scanners.finding import ParseFailure
from scanners.rules import analysis
from scanners.rules.check import parse_module
from scanners.rules.gg001_get_event_loop import GetEventLoop
from scanners.rules.names import module_name_for
from scanners.rules.prefilter import AstFacts


class _Replace(cst.CSTTransformer):
    def __init__(self, replacements: dict[int, cst.BaseExpression]) -> None:
        super().__init__()
        self.replacements = replacements

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        func = self.replacements.get(id(original_node))
        return updated_node if func is None else updated_node.with_changes(func=func)


def _fixable(
    path: str, source: bytes, module: cst.Module, settings: ScanSettings
) -> dict[int, cst.BaseExpression]:
    module_name, package = module_name_for(path)
    rule = GetEventLoop(settings, path)
    facts = AstFacts(path, source)
    facts.tree  # noqa: B018 - never touch a file that does not parse
    ctx, _ = analysis.run(module, path, module_name, package, [rule], facts)
    replacements: dict[int, cst.BaseExpression] = {}
    for report in ctx.reports:
        if report.fixable and isinstance(report.node, cst.Call):
            assert isinstance(report.node.func, (cst.Attribute, cst.Name))
            if isinstance(report.node.func, cst.Attribute):
                target: cst.BaseExpression = report.node.func.with_changes(
                    attr=cst.Name("get_running_loop")
                )
            else:
                target = cst.Name("get_running_loop")
            replacements[id(report.node)] = target
    return replacements


def fix_python(path: str, source: bytes, settings: ScanSettings) -> bytes | None:
    if b"get_event_loop" not in source:
        return None
    module = parse_module(source)
    replacements = _fixable(path, source, module, settings)
    if not replacements:
        return None
    try:
        fixed_bytes = module.visit(_Replace(replacements)).bytes
    except RecursionError:  # libcst's transformer and codegen recurse; leave such files be
        return None
    # Prove it: the fixed file parses and has no fixable GG001 left.
    try:
        if _fixable(path, fixed_bytes, parse_module(fixed_bytes), settings):
            return None
    except ParseFailure:
        return None
    return fixed_bytes
