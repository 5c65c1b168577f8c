"""The cheap tiers, derived from what each rule declares it looks for.

A rule declares call targets, methods, callee names, keywords, raised exceptions, imported
modules and function names (see :class:`~scanners.rules.rule.Rule`); from that this module
derives, with no line of rule-specific code:

1. the words the file's bytes must hold (every name a match must spell: the last name of a
   call target, since an import under any alias still spells it; each part of a module;
   ``async`` too for a rule that only looks inside ``async def``). A callee's last name
   counts only where a call or an import alias follows it, and only as an attribute of
   what may resolve to the target's module; a keyword only where its ``=`` (and value)
   follows; so that the word in a comment, a docstring or prose (``exit the loop``,
   ``shell command``) or a call of something else (``platform.system()``,
   ``smtp.quit()``) does not send the file to the ``ast`` tier (see the kinds of word
   below);
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
from scanners.rules.names import (
    dotted_name,
    imported_modules,
    is_word_byte,
    module_name_for,
    raised_class,
    whole_word_offsets,
)
from scanners.rules.rule import Rule

Words = tuple[bytes, ...]  # at least one of them
Requirement = tuple[Words, ...]  # every group of words

# The kinds of word, told apart by their spelling. Each counts only where it may be what
# it stands for in real code: a word in a comment, a docstring or prose (``exit the loop``,
# ``shell command``, ``platform.system()``) must not send the file to the ``ast`` tier.
#
# - ``name``: the name anywhere, as a whole word;
# - ``name(``: a callee's last name, where its call's ``(`` follows it, after nothing but
#   what may stand between them (white space, line breaks and comments inside brackets, a
#   continuation, the ``)`` of a parenthesised callee), or where ``as`` does (an import
#   that binds it under another name, which the call then spells); never the name of a
#   ``def`` or ``class`` statement;
# - ``receiver.name(``: the same, for a call target ``....receiver.name``: where the name is
#   an attribute of something written on the same line, that must be ``receiver`` or a
#   name an import binds with ``as`` (``platform.system()`` cannot be ``os.system``), or
#   may be a name in brackets (``(os).system``), since nothing else resolves to the target;
# - ``name=``: a keyword argument's name, where its ``=`` follows;
# - ``name=value``: the same, passed the literal ``value`` (``shell=True``), maybe in
#   brackets (the same constant to ``ast``).
CALLEE, KEYWORD = b"(", b"="
_WORD_BYTE = rb"A-Za-z0-9_\x80-\xff"
# A comment runs to the end of its line; the lookahead makes that the only way to match it
# (one that could end anywhere could split ``# a # b`` in exponentially many ways).
_COMMENT = rb"#[^\r\n]*(?![^\r\n])"
_GAP = rb"(?:[ \t\f\r\n\\]|" + _COMMENT + rb")*"  # what may stand between two tokens in brackets
_AFTER_CALLEE = re.compile(
    rb"(?:[ \t\f\r\n\\)]|" + _COMMENT + rb")*(?:\(|as(?![" + _WORD_BYTE + rb"]))"
)
_AFTER_KEYWORD = re.compile(_GAP + rb"=(?!=)")
_SPACE = b" \t\f"
_DEFINING = (b"def", b"class")


def _last(name: str) -> str:
    return name.rpartition(".")[2]


def required_words(rule: Rule) -> tuple[Requirement, ...] | None:
    """What a file's bytes must hold for ``rule`` to find anything: one of the returned
    requirements, each a list of word groups that must all occur. None: no such tier.

    A call target ``a.b.c`` needs ``c`` (an import under any alias still spells it) and,
    unless it is a builtin or the file is inside package ``a`` (where a relative import
    can reach it without spelling it), ``a``: the import that binds it spells it.
    """
    if rule.called_names is None:
        return None  # any call at all
    key = (
        type(rule),
        module_name_for(rule.path)[1].partition(".")[0],
        tuple(rule.called_names),
        tuple(rule.imports),
        tuple(rule.definitions),
    )
    if key not in _REQUIRED:
        _REQUIRED[key] = _required_words(*key)
    return _REQUIRED[key]


_REQUIRED: dict[
    tuple[type[Rule], str, tuple[str, ...], tuple[str, ...], tuple[str, ...]],
    tuple[Requirement, ...] | None,
] = {}


def _required_words(
    rule: type[Rule],
    top_package: str,
    called_names: tuple[str, ...],
    imports: tuple[str, ...],
    definitions: tuple[str, ...],
) -> tuple[Requirement, ...] | None:
    # Everything else a rule declares is a class attribute: the answer is one per class,
    # per package the file is in, and per settings-dependent part of the declaration.
    # Within a requirement the words checked first are the ones most files hold or all
    # requirements share (a module, ``async``), so that a missing one ends it early.
    callee, keyword_name = CALLEE.decode(), KEYWORD.decode()

    def qualified(name: str) -> list[str]:
        head = name.partition(".")[0]
        if head in ("builtins", top_package) or "." not in name:
            return [_last(name)]
        return [head, _last(name)]

    def called(target: str) -> list[str]:
        # ``qualified``, with the last name as the callee of ``receiver.name(``.
        receiver = target.rpartition(".")[0].rpartition(".")[2]
        return [*qualified(target)[:-1], f"{receiver}.{_last(target)}{callee}".lstrip(".")]

    def needed(target: str) -> list[list[str]]:
        if target not in rule.needs:
            return []
        return [[called(call)[-1] for call in rule.needs[target]]]

    calls: list[list[list[str]]] = [
        [[word] for word in called(target)] + needed(target) for target in rule.calls
    ]
    calls += [[[method + callee], *needed(method)] for method in rule.methods]
    calls += [[[name + callee]] for name in called_names]
    calls += [[[f"{keyword}{keyword_name}{value!r}"]] for keyword, value in rule.keywords.items()]
    if rule.only_in_async:
        calls = [[["async"], *groups] for groups in calls]
    others = [[[word] for word in qualified(name)] for name in rule.raises]
    others += [[[_last(module)]] for module in imports]
    others += [[[name]] for name in definitions]
    alternatives = calls + others
    if not alternatives:
        return None
    # Requirements of one word each are one group: any of those words will do.
    single = sorted({groups[0][0] for groups in alternatives if len(groups) == 1})
    several = {
        tuple(tuple(sorted(word.encode() for word in group)) for group in groups)
        for groups in alternatives
        if len(groups) > 1
    }
    requirements: list[Requirement] = sorted(several)
    if single:
        requirements.insert(0, (tuple(word.encode() for word in single),))
    return tuple(requirements)


def _spelled(source: bytes, word: bytes, seen: dict[bytes, bool]) -> bool:
    """Whether ``word`` (of any kind above) occurs in ``source``."""
    if word.endswith(CALLEE):
        receiver, dot, name = word[:-1].rpartition(b".")
        return any(
            _AFTER_CALLEE.match(source, offset + len(name))
            and not _commented(source, offset)
            and _may_call(source, offset, receiver if dot else None, seen)
            for offset in whole_word_offsets(source, name)
        )
    name, keyword, value = word.partition(KEYWORD)
    if not keyword:
        return next(whole_word_offsets(source, word), None) is not None
    after = _passing(value) if value else _AFTER_KEYWORD
    return any(
        after.match(source, offset + len(name)) and not _commented(source, offset)
        for offset in whole_word_offsets(source, name)
    )


def _commented(source: bytes, offset: int) -> bool:
    """Whether a ``#`` and no quote stand before ``offset`` on its line: then that ``#``
    starts a comment (or the line is inside a string that no quote closes before the
    name), and the name is no code."""
    start = max(source.rfind(b"\n", 0, offset), source.rfind(b"\r", 0, offset)) + 1
    return (
        source.find(b"#", start, offset) != -1
        and source.find(b"'", start, offset) == -1
        and source.find(b'"', start, offset) == -1
    )


@functools.lru_cache(maxsize=64)
def _passing(value: bytes) -> re.Pattern[bytes]:
    """After a keyword's name: its ``=`` and the constant ``value``, maybe in brackets."""
    return re.compile(
        _GAP
        + rb"=(?!=)(?:[ \t\f\r\n\\(]|"
        + _COMMENT
        + rb")*"
        + re.escape(value)
        + rb"(?!["
        + _WORD_BYTE
        + rb"])"
    )


@functools.lru_cache(maxsize=64)
def _as(name: bytes) -> re.Pattern[bytes]:
    """``as name``, or an ``as`` that the next line (or a comment) may continue."""
    return re.compile(
        rb"as(?:[ \t\f]+" + re.escape(name) + rb"(?![" + _WORD_BYTE + rb"])|[ \t\f]*(?=[\\\r\n#]))"
    )


def _aliased(source: bytes, name: bytes) -> bool:
    """Whether an import may bind ``name`` with ``as``: ``as name`` after a dotted name that
    follows ``import``, ``,`` or ``(`` (not ``with f() as name``, ``except E as name``),
    read on the line of the ``as``; whatever the line does not show may be one."""
    for match in _as(name).finditer(source):
        at = match.start()
        if at and is_word_byte(source[at - 1]):
            continue  # ``has name``
        while True:  # back over ``a . b`` (spaces allowed around the dots)
            while at and source[at - 1] in _SPACE:
                at -= 1
            if not at or source[at - 1] in b"\r\n":
                return True  # the line does not show what comes before
            end = at
            while at and is_word_byte(source[at - 1]):
                at -= 1
            if at == end:
                break
            while at and source[at - 1] in _SPACE:
                at -= 1
            if not at or source[at - 1] != 0x2E:
                break
            at -= 1
        if at == end:
            continue  # no name before ``as`` (``f() as name``)
        if not at or source[at - 1] in b"\r\n,(":
            return True  # an import's alias, or the line of one in brackets
        end = at
        while at and is_word_byte(source[at - 1]):
            at -= 1
        if source[at:end] == b"import":
            return True
    return False


def _may_call(source: bytes, offset: int, receiver: bytes | None, seen: dict[bytes, bool]) -> bool:
    """Whether the callee name at ``offset`` may be a call of ``receiver``'s attribute of
    that name (None: of anything); see ``receiver.name(`` above. What the name is an
    attribute of is read on the same line only: across a line break a comment may stand
    between."""
    at = offset
    while at and source[at - 1] in _SPACE:
        at -= 1
    if at and source[at - 1] == 0x2E:  # ``.``: an attribute
        if receiver is None:
            return True
        at -= 1
        while at and source[at - 1] in _SPACE:
            at -= 1
        end = at
        while at and is_word_byte(source[at - 1]):
            at -= 1
        written = source[at:end]
        if not written:
            before = source[end - 1 : end]
            if before == b")":  # ``(name).name`` resolves as ``name.name``; ``f().name`` not
                at = end - 1
                while at and source[at - 1] in _SPACE:
                    at -= 1
                return source[at - 1 : at] != b"("
            return before != b"]"  # ``x[0].name`` is no name's attribute
        if not written.isascii() or written[:1].isdigit() or written == receiver:
            return True  # a number, or a name also spelled in other ways
        key = b"as " + written
        if key not in seen:
            seen[key] = _aliased(source, written)
        return seen[key]
    if at == offset:
        return True
    end = at
    while at and is_word_byte(source[at - 1]):
        at -= 1
    return not (source[at:end] in _DEFINING and (at == 0 or not is_word_byte(source[at - 1])))


def _holds(source: bytes, words: Words, seen: dict[bytes, bool]) -> bool:
    for word in words:
        found = seen.get(word)
        if found is None:
            found = seen[word] = _spelled(source, word, seen)
        if found:
            return True
    return False


def _overrides(rule: Rule, hook: str) -> bool:
    return getattr(type(rule), hook) is not getattr(Rule, hook)


def passes_tokens(rule: Rule, source: bytes, seen: dict[bytes, bool] | None = None) -> bool:
    """Tier 1: the rule applies to the file and the words it needs occur in the bytes.
    ``seen`` remembers, for one file, which words it holds (rules share many)."""
    if not rule.applies():
        return False
    if _overrides(rule, "tokens"):
        pattern = rule.tokens()
        return pattern is None or pattern.search(source) is not None
    requirements = required_words(rule)
    return requirements is None or any(
        all(_holds(source, words, {} if seen is None else seen) for words in groups)
        for groups in requirements
    )


def _flaggable(rule: Rule, facts: AstFacts, fact: CallFact) -> bool:
    if rule.only_in_async and not fact.in_async:
        return False
    return not (rule.outside_main_guard and facts.in_main_guard(fact.node.lineno))


def _call_matches(rule: Rule, facts: AstFacts) -> Iterator[tuple[CallFact, str]]:
    """``(call, what it matched)`` for each call of a declared target, method, callee
    name or keyword."""
    yield from _resolving(facts, rule.calls)
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
            if not fact.node.keywords:
                continue
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
    if waiting and (context := {fact.node.lineno for fact, _ in _resolving(facts, needed)}):
        lines |= waiting | context
    return lines


def _resolving(facts: AstFacts, targets: Collection[str]) -> Iterator[tuple[CallFact, str]]:
    """``(call, target)`` for each call that may resolve to one of ``targets``."""
    if not targets:
        return
    wanted = set(targets)
    for spelling in facts.spellings({_last(target) for target in wanted}):
        for fact in facts.calls_named(spelling):
            if fact.dotted is not None:
                for target in wanted & facts.resolutions(fact.dotted):
                    yield fact, target


def derived_lines(rule: Rule, facts: AstFacts) -> set[int] | None:
    """Tier 2: the lines that may hold what ``rule`` declares, and what its check reads
    there; None when it declares nothing (or any call), so the whole file is needed."""
    if rule.called_names is None or not (
        rule.calls
        or rule.methods
        or rule.called_names
        or rule.keywords
        or rule.raises
        or rule.imports
        or rule.definitions
    ):
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
            if node.name in names:  # seen whole: the check reads its body
                lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def _callee_names(rules: list[Rule]) -> set[str] | None:
    """The names a call the ``rules`` ask about spells: its callee's last name, or a
    declared keyword (None: any call)."""
    names: set[str] = set()
    for rule in rules:
        if rule.called_names is None or _overrides(rule, "candidate_lines"):
            return None  # any call, or questions this module cannot see
        names.update(_last(name) for name in (*rule.calls, *rule.called_names))
        names.update(rule.methods, rule.keywords)
        names.update(_last(name) for needs in rule.needs.values() for name in needs)
    return names


def past_tokens(source: bytes, rules: list[Rule]) -> list[Rule]:
    """The rules that survive the byte tier (tier 1)."""
    seen: dict[bytes, bool] = {}
    return [rule for rule in rules if passes_tokens(rule, source, seen)]


def candidate_rules(
    source: bytes, rules: list[Rule], facts: AstFacts
) -> tuple[list[Rule], set[int] | None]:
    """The rules that survive the byte and ``ast`` tiers, and the lines they need to see
    (None: the whole file)."""
    return ast_candidates(past_tokens(source, rules), facts)


def ast_candidates(left: list[Rule], facts: AstFacts) -> tuple[list[Rule], set[int] | None]:
    """Of the rules ``left`` after the byte tier, those that survive the ``ast`` tier
    (tier 2), and the lines they need to see (None: the whole file)."""
    kept: list[Rule] = []
    needed: set[int] | None = set()
    callees = _callee_names(left)
    if callees is not None:
        facts.restrict_calls(callees)
    for rule in left:
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
