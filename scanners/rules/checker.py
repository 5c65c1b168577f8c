"""``check_python``, ``violations`` (for the fixer) and ``allow_in_matches``: the engine's
entry points into the Python rules.

The tiers in order (:mod:`scanners.rules.tiers`): drop rules whose settings do not apply,
then rules whose words are not in the bytes, then rules the ``ast`` facts rule out; only
if a rule is left is the file parsed with libcst, once, for all of them.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator

import libcst as cst

from pytest_gridgate.settings import ScanSettings
from scanners.finding import Finding, ParseFailure, parse_failure
from scanners.globs import glob_matches
from scanners.rules import traversal
from scanners.rules.ast_facts import AstFacts
from scanners.rules.names import module_name_for
from scanners.rules.registry import registry
from scanners.rules.rule import Violation
from scanners.rules.skeleton import skeleton
from scanners.rules.syntax import check_syntax
from scanners.rules.tiers import ast_candidates, candidate_rules, passes_tokens, past_tokens


def parse_module(source: bytes) -> cst.Module:
    """libcst's parse, with every failure turned into a :class:`ParseFailure`."""
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise ParseFailure(
            f"syntax error: {exc.message}", exc.raw_line, exc.raw_column + 1
        ) from None
    except (SyntaxError, ValueError, UnicodeError, RecursionError, MemoryError) as exc:
        raise parse_failure(exc) from None
    except Exception as exc:  # the native parser's other errors: still one clear finding
        raise ParseFailure(f"cannot parse: {type(exc).__name__}: {exc}") from None


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Parsing allocates hundreds of thousands of acyclic objects; the cyclic collector
    would walk the growing heap again and again (20-40% of libcst's time). Reference
    counting frees the trees anyway."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def check_python(
    path: str, source: bytes, settings: ScanSettings, selected: Callable[[str], bool]
) -> list[Finding]:
    with _no_cyclic_gc():
        return _check(path, source, settings, selected)


def _check(
    path: str, source: bytes, settings: ScanSettings, selected: Callable[[str], bool]
) -> list[Finding]:
    rules = [cls(settings, path) for code, cls in registry()[0].items() if selected(code)]
    left = past_tokens(source, rules)
    if not left:
        # Most files: nothing to look into, only GG000's check, without an ``ast`` tree.
        if selected("GG000"):
            check_syntax(path, source)
        return []
    facts = AstFacts(path, source)
    if selected("GG000"):
        facts.tree  # noqa: B018 - parsing is the syntax check
    left, needed = ast_candidates(left, facts)
    if not left:
        return []
    parsed, positions = source, facts
    if needed is not None and (smaller := skeleton(facts, needed)) is not None:
        parsed, positions = smaller, AstFacts(path, smaller)
    module = parse_module(parsed)
    module_name, package = module_name_for(path)
    try:
        _, findings = traversal.run(module, path, module_name, package, left, positions)
    except RecursionError:  # a rule recursing over a pathologically deep tree
        raise ParseFailure("too deeply nested to analyse") from None
    return sorted(findings)


def violations(
    path: str,
    source: bytes,
    settings: ScanSettings,
    selected: Callable[[str], bool],
    *,
    fixable_only: bool = False,
) -> tuple[cst.Module, list[Violation]] | None:
    """The whole module (never a skeleton: the fixer rewrites it) and what the selected
    rules report in it, or None when no rule is left after the cheap tiers.
    ``fixable_only`` keeps only rules that declare ``fixable``."""
    rules = [
        cls(settings, path)
        for code, cls in registry()[0].items()
        if selected(code) and (cls.fixable or not fixable_only)
    ]
    rules = [rule for rule in rules if passes_tokens(rule, source)]
    if not rules:
        return None
    facts = AstFacts(path, source)
    facts.tree  # noqa: B018 - never touch a file that does not parse
    left, _ = candidate_rules(source, rules, facts)
    if not left:
        return None
    with _no_cyclic_gc():
        module = parse_module(source)
        module_name, package = module_name_for(path)
        ctx, _ = traversal.run(module, path, module_name, package, left, facts, locate=False)
    return module, ctx.reports


def allow_in_matches(path: str, settings: ScanSettings) -> frozenset[tuple[int, str]]:
    return frozenset(
        (index, glob)
        for index, forbidden in enumerate(settings.forbidden_calls)
        for glob in forbidden.allow_in
        if glob_matches(glob, path)
    )
