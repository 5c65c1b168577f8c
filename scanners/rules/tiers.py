"""The cheap tiers, derived from what each rule declares it looks for.

A rule declares call targets, methods, callee names, keywords, raised exceptions, imported
modules and function names (see :class:`~scanners.rules.rule.Rule`); from that this module
derives, with no line of rule-specific code:

1. the words the file's bytes must hold (every name a match must spell: the last name of a
   call target, since an import under any alias still spells it; each part of a module;
   ``async`` too for a rule that only looks inside ``async def``);
2. the lines of the file's ``ast`` that may hold a match (:class:`~scanners.rules.ast_facts.
   AstFacts` resolves loosely, so "may" errs towards yes), plus the lines of what the
   match's check reads (``needs``). Only those lines' definitions are parsed by libcst
   (:mod:`scanners.rules.skeleton`).

A rule that overrides :meth:`~scanners.rules.rule.Rule.tokens` or
:meth:`~scanners.rules.rule.Rule.candidate_lines` gets its own answer instead; one that
declares nothing has every file parsed.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Collection, Iterator

from scanners.rules.ast_facts import AstFacts, CallFact
from scanners.rules.declaration import module_among, passes_keyword
from scanners.rules.names import dotted_name, imported_modules, raised_class
from scanners.rules.rule import Rule

_ASYNC = (b"async",)


def _last(name: str) -> str:
    return name.rpartition(".")[2]


def word_groups(rule: Rule) -> tuple[tuple[bytes, ...], ...] | None:
    """Groups of words; the file must hold a word of every group. None: no such tier."""
    if rule.called_names is None:
        return None  # any call at all
    words = {_last(name) for name in (*rule.calls, *rule.raises)}
    words.update(rule.methods, rule.called_names, rule.keywords, rule.definitions)
    words.update(part for module in rule.imports for part in module.split("."))
    if not words:
        return None
    encoded = tuple(sorted(word.encode() for word in words))
    return (encoded, _ASYNC) if rule.only_in_async else (encoded,)


@functools.lru_cache(maxsize=256)
def _whole_words(words: tuple[bytes, ...]) -> re.Pattern[bytes] | None:
    if not all(word.decode().isidentifier() for word in words):
        return None
    return re.compile(rb"\b(?:" + b"|".join(map(re.escape, words)) + rb")\b")


def _holds(source: bytes, words: tuple[bytes, ...]) -> bool:
    # `in` is several times faster than the regex engine; the regex then drops the files
    # where the word is only part of a longer name (`exit` in `__exit__`).
    if not any(word in source for word in words):
        return False
    pattern = _whole_words(words)
    return pattern is None or pattern.search(source) is not None


def _overrides(rule: Rule, hook: str) -> bool:
    return getattr(type(rule), hook) is not getattr(Rule, hook)


def passes_tokens(rule: Rule, source: bytes) -> bool:
    """Tier 1: the rule applies to the file and the words it needs occur in the bytes."""
    if not rule.applies():
        return False
    if _overrides(rule, "tokens"):
        pattern = rule.tokens()
        return pattern is None or pattern.search(source) is not None
    groups = word_groups(rule)
    return groups is None or all(_holds(source, group) for group in groups)


def _flaggable(rule: Rule, facts: AstFacts, fact: CallFact) -> bool:
    if rule.only_in_async and not fact.in_async:
        return False
    return not (rule.outside_main_guard and facts.in_main_guard(fact.node.lineno))


def _call_matches(rule: Rule, facts: AstFacts) -> Iterator[tuple[CallFact, str]]:
    """``(call, what it matched)`` for each call of a declared target, method, callee
    name or keyword."""
    if rule.calls:
        wanted = set(rule.calls)
        for spelling in facts.spellings({_last(target) for target in wanted}):
            for fact in facts.calls_named(spelling):
                if fact.dotted is not None:
                    for target in wanted & facts.resolutions(fact.dotted):
                        yield fact, target
    for method in rule.methods:
        for fact in facts.calls_named(method):
            if isinstance(fact.node.func, ast.Attribute):
                yield fact, method
    if rule.called_names:
        for spelling in facts.spellings(rule.called_names):
            for fact in facts.calls_named(spelling):
                yield fact, spelling
    if rule.keywords:
        for fact in facts.calls:
            for keyword, value in rule.keywords.items():
                if passes_keyword(fact.node, keyword, value):
                    yield fact, keyword


def _call_lines(rule: Rule, facts: AstFacts) -> set[int]:
    lines: set[int] = set()
    waiting: set[int] = set()  # matches that need one of `rule.needs` in the file
    needed: set[str] = set()
    for fact, matched in _call_matches(rule, facts):
        if not _flaggable(rule, facts, fact):
            continue
        argument = rule.unless_given.get(matched)
        if argument is not None and argument.given(fact.node):
            continue
        needs = rule.needs.get(matched)
        if needs:
            waiting.add(fact.node.lineno)
            needed.update(needs)
        else:
            lines.add(fact.node.lineno)
    if waiting and (context := _lines_of_calls(facts, needed)):
        lines |= waiting | context
    return lines


def _lines_of_calls(facts: AstFacts, targets: Collection[str]) -> set[int]:
    wanted = set(targets)
    return {
        fact.node.lineno
        for spelling in facts.spellings({_last(target) for target in wanted})
        for fact in facts.calls_named(spelling)
        if fact.dotted is not None and wanted & facts.resolutions(fact.dotted)
    }


def derived_lines(rule: Rule, facts: AstFacts) -> set[int] | None:
    """Tier 2: the lines that may hold what ``rule`` declares, and what its check reads
    there; None when it declares nothing (or any call), so the whole file is needed."""
    if word_groups(rule) is None:
        return None
    lines = _call_lines(rule, facts)
    if rule.raises:
        for node in facts.node_list(ast.Raise):
            assert isinstance(node, ast.Raise)
            raised = raised_class(node)
            written = dotted_name(raised) if raised is not None else None
            if written is not None and facts.resolutions(written) & set(rule.raises):
                lines.add(node.lineno)
    if rule.imports:
        for node_type in (ast.Import, ast.ImportFrom):
            for node in facts.node_list(node_type):
                assert isinstance(node, (ast.Import, ast.ImportFrom))
                modules = imported_modules(node, facts.package)
                if any(module_among(name, rule.imports) for name in modules):
                    lines.add(node.lineno)
    if rule.definitions:
        names = set(rule.definitions)
        for node in facts.node_list(ast.FunctionDef):
            assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            if node.name in names:
                lines.add(node.lineno)
    return lines


def candidate_rules(
    source: bytes, rules: list[Rule], facts: AstFacts
) -> tuple[list[Rule], set[int] | None]:
    """The rules that survive the byte and ``ast`` tiers, and the lines they need to see
    (None: the whole file)."""
    kept: list[Rule] = []
    needed: set[int] | None = set()
    for rule in rules:
        if not passes_tokens(rule, source):
            continue
        if _overrides(rule, "candidate_lines"):
            lines = rule.candidate_lines(facts)
        else:
            lines = derived_lines(rule, facts)
        if lines is None:
            if rule.is_candidate(facts):
                kept.append(rule)
                needed = None
        elif lines:
            kept.append(rule)
            if needed is not None:
                needed |= lines
    return kept, needed
