"""Skeletons: the part of a file libcst has to parse.

libcst's parse is the most expensive step, and in a large file the candidate lines of the
rules usually sit in a few functions. Every other ``def`` or ``class`` (at any depth) is
replaced by a one-line stub at the same indentation that binds the same name
(``def name(): pass``) followed by as many empty lines as it had, so line numbers, columns
of the kept code, every scope's bindings and all other statements stay exactly as they
were. A definition's body cannot affect what a rule sees outside it, except through the
name it binds, which the stub keeps; rules that look across definitions (GG006 following a
process from ``Popen`` to ``.wait()``) list the lines they need to see.

The same holds for the value of a large assignment, expression statement or ``return``
that holds no candidate line (a generated table, a module-level data literal): the value
becomes ``0`` (``(0`` and its line breaks and ``)`` when it spans lines), and the targets,
which are the bindings, stay. Without this a 5 MB module made mostly of one dict literal
was parsed whole by libcst, 20 times the cost of the ``ast`` parse. Values holding
``yield``, ``await`` or ``:=`` are kept (they change what the enclosing function is or
binds), and so are docstrings.

Inside a function that is kept, the same goes for its statements: a run of consecutive
statements that holds no line of ``keep`` becomes one line binding the names the run
binds in the function's scope (``a = b = 0``: assignment, ``for``, ``with`` and ``except``
targets, nested definitions; only names the kept text spells), or ``pass``. The scope
model (:mod:`scanners.rules.scopes`) reads nothing else from a statement, and the kept
code keeps its enclosing statements, so every rule sees what it saw. A statement that
binds differently (``import``, ``global``, ``nonlocal`` anywhere in it), a string
statement (a docstring) and one holding ``yield``, ``await`` or ``:=`` is kept, and so is
one that shares a line with another statement. Class and module bodies are not stubbed
this way (a module's main guard is read by the rules).
"""

from __future__ import annotations

import ast
import bisect
import codecs
import re
from collections.abc import Iterator

from scanners.rules.ast_facts import AstFacts, statement_bodies

_LINE_BREAKS = re.compile(rb"\r\n|\r|\n")
# Below this share of removed bytes the second ``ast.parse`` (for positions) is not worth it.
MIN_SAVING = 0.25


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_INDENT = re.compile(rb"[ \t\f]*")
# Statements whose value may be replaced, and the smallest value worth replacing.
_VALUED = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr, ast.Return)
MIN_VALUE_BYTES = 64
_KEPT_IN_VALUES = re.compile(rb"\byield\b|\bawait\b|:=")
_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_TRY_STAR = tuple(getattr(ast, name) for name in ("TryStar",) if hasattr(ast, name))
# Statements that bind a name otherwise than the scope model's ``local`` (or declare it).
_BINDING_OTHERWISE = (ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal)
# What may follow a statement's end on its line when no other statement does.
_LINE_END = re.compile(rb"[ \t\f]*;?[ \t\f]*(?:#[^\r\n]*)?(?:\r\n|\r|\n|\Z)")


def skeleton(facts: AstFacts, keep: set[int]) -> bytes | None:
    """The source with every definition that holds no line of ``keep`` stubbed out, or
    None when that would not save enough.

    Definitions are stubbed at any depth: a top-level test class with one flagged method
    keeps that method and its own statements, and every other method becomes a stub.
    """
    source = facts.source
    starts = facts.line_starts
    wanted = sorted(keep)
    encoding = facts.encoding
    if encoding == "utf-8-sig":
        encoding = "utf-8"  # the BOM is kept where it is, not repeated in each stub
    stubs: list[tuple[int, int, bytes]] = []  # (begin, end, replacement)
    # ast columns are UTF-8 byte offsets into the decoded line: exact for UTF-8 files only.
    byte_columns = encoding == "utf-8"
    bom = len(codecs.BOM_UTF8) if source.startswith(codecs.BOM_UTF8) else 0

    def offset(line: int, column: int) -> int:
        return starts[line - 1] + column + (bom if line == 1 else 0)

    def needed(first: int, last: int) -> bool:
        index = bisect.bisect_left(wanted, first)
        return index < len(wanted) and wanted[index] <= last

    # Statement lists still to visit. A work list, not recursion: a recursive closure holds
    # itself, a reference cycle that kept the stubbed definitions' whole ``ast`` subtrees
    # alive until the cyclic collector (off while the checker works) walked them all.
    # Each with whether it is (inside blocks of) a function's body.
    bodies: list[tuple[list[ast.stmt], bool]] = [(facts.tree.body, False)]

    def alone(statement: ast.stmt) -> bool:
        """Whether ``statement`` has its lines to itself (nothing before it on its first
        line, no other statement after it on its last)."""
        begin = offset(statement.lineno, statement.col_offset)
        if source[starts[statement.lineno - 1] : begin].strip(b" \t\f"):
            return False
        assert statement.end_lineno is not None
        assert statement.end_col_offset is not None
        return (
            _LINE_END.match(source, offset(statement.end_lineno, statement.end_col_offset))
            is not None
        )

    def visit(body: list[ast.stmt], in_function: bool) -> None:
        run: list[tuple[ast.stmt, int, int]] = []  # consecutive statements to stub
        for statement in body:
            last = statement.end_lineno or statement.lineno
            if isinstance(statement, _DEFINITIONS):
                first = min([statement.lineno] + [d.lineno for d in statement.decorator_list])
                if not needed(first, last):
                    run.append((statement, first, last))
                    continue
            elif (
                in_function
                and byte_columns
                and not needed(statement.lineno, last)
                and _binds_locally(statement)
                and alone(statement)
                and not _KEPT_IN_VALUES.search(
                    source,
                    offset(statement.lineno, statement.col_offset),
                    offset(last, statement.end_col_offset or 0),
                )
            ):
                run.append((statement, statement.lineno, last))
                continue
            if run:
                _stub(run)
                run = []
            if (
                byte_columns
                and isinstance(statement, _VALUED)
                and not needed(statement.lineno, last)
            ):
                _stub_value(statement)
            # A compound statement's own lines bind names (``for x in``, ``with as``,
            # ``except E as e``) and stay; its body is stubbed like any other.
            inner = isinstance(statement, _FUNCTIONS) or (
                in_function and not isinstance(statement, ast.ClassDef)
            )
            bodies.extend((block, inner) for block in statement_bodies(statement))
        if run:
            _stub(run)

    def _stub_value(statement: ast.stmt) -> None:
        value = getattr(statement, "value", None)
        if value is None or value.end_lineno is None or value.end_col_offset is None:
            return
        if isinstance(statement, ast.Expr) and isinstance(value, ast.Constant):
            return  # a docstring, or a string a rule may read as one
        begin = offset(value.lineno, value.col_offset)
        end = offset(value.end_lineno, value.end_col_offset)
        if end - begin < MIN_VALUE_BYTES or _KEPT_IN_VALUES.search(source, begin, end):
            return
        breaks = b"".join(_LINE_BREAKS.findall(source, begin, end))
        stubs.append((begin, end, b"(0" + breaks + b")" if breaks else b"0"))

    def _stub(run: list[tuple[ast.stmt, int, int]]) -> None:
        """Consecutive sibling statements become one stub (see :func:`_definitions_stub`)."""
        first, last = run[0][1], run[-1][2]
        begin = starts[first - 1]
        if first == 1 and source.startswith(codecs.BOM_UTF8):
            begin += len(codecs.BOM_UTF8)
        end = starts[last] if last < len(starts) else len(source)
        definitions = [statement for statement, _, _ in run]
        runs.append((begin, end, definitions))

    runs: list[tuple[int, int, list[ast.stmt]]] = []
    while bodies:
        visit(*bodies.pop())
    ranges = sorted([(b, e) for b, e, _ in stubs] + [(b, e) for b, e, _ in runs])
    if sum(end - begin for begin, end in ranges) < MIN_SAVING * len(source):
        return None  # even empty stubs would not save enough
    # A stub binds a name only where some kept code could look it up: a name that occurs
    # nowhere in the kept text cannot be resolved by any rule.
    kept: list[bytes] = []
    cursor = 0
    for begin, end in ranges:
        kept.append(source[cursor:begin])
        cursor = end
    kept.append(source[cursor:])
    words = set(_WORD.findall(b"".join(kept)))
    for begin, end, definitions in runs:
        replacement = _definitions_stub(definitions, source, begin, words, encoding)
        stubs.append((begin, end, replacement + b"".join(_LINE_BREAKS.findall(source, begin, end))))
    removed = sum(end - begin - len(replacement) for begin, end, replacement in stubs)
    if removed < MIN_SAVING * len(source):
        return None
    pieces: list[bytes] = []
    cursor = 0
    for begin, end, replacement in sorted(stubs):
        pieces += [source[cursor:begin], replacement]
        cursor = end
    pieces.append(source[cursor:])
    return b"".join(pieces)


def _binds_locally(statement: ast.stmt) -> bool:
    """Whether ``statement`` is not a string and binds names in its scope only the way the
    scope model records as local (no ``import``, ``global`` or ``nonlocal`` in it, outside
    the bodies of definitions nested in it)."""
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return False
    todo = [statement]
    while todo:
        current = todo.pop()
        if isinstance(current, _BINDING_OTHERWISE):
            return False
        if not isinstance(current, _DEFINITIONS):
            for body in statement_bodies(current):
                todo.extend(body)
    return True


def _bound_names(statement: ast.stmt) -> Iterator[str]:
    """The names ``statement`` binds in its scope, as the scope model records them."""
    todo = [statement]
    while todo:
        current = todo.pop()
        if isinstance(current, _DEFINITIONS):
            yield current.name
            continue
        targets: list[ast.expr] = []
        if isinstance(current, ast.Assign):
            targets = current.targets
        elif isinstance(current, (ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor)):
            targets = [current.target]
        elif isinstance(current, (ast.With, ast.AsyncWith)):
            targets = [item.optional_vars for item in current.items if item.optional_vars]
        elif isinstance(current, (ast.Try, *_TRY_STAR)):
            yield from (h.name for h in current.handlers if h.name)  # type: ignore[attr-defined]
        for target in targets:
            yield from _target_names(target)
        for body in reversed(statement_bodies(current)):
            todo.extend(reversed(body))


def _target_names(target: ast.expr) -> Iterator[str]:
    """Names bound by an assignment target: names, also inside tuples, lists and ``*``."""
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _target_names(element)
    elif isinstance(target, ast.Starred):
        yield from _target_names(target.value)


def _definitions_stub(
    definitions: list[ast.stmt], source: bytes, begin: int, words: set[bytes], encoding: str
) -> bytes:
    """The first line of a stub for ``definitions``, a run of sibling statements (without
    the line breaks that follow).

    ``def name(): pass`` (``class name: pass``) for one definition whose name is used
    elsewhere; ``a = b = 0`` for several statements or what else binds names (the same
    bindings in one statement: a class of 20,000 methods, one of them flagged, is one
    statement for libcst, not 20,000); ``pass`` when no name is used in the kept text.
    """
    indent = _INDENT.match(source, begin)
    assert indent is not None
    bound = dict.fromkeys(name for statement in definitions for name in _bound_names(statement))
    names = [name for name in bound if not name.isascii() or name.encode() in words]
    if not names:
        return indent.group() + b"pass"
    if len(definitions) == 1 and isinstance(definitions[0], _DEFINITIONS):
        (statement,) = definitions
        keyword = b"class " if isinstance(statement, ast.ClassDef) else b"def "
        parens = b"" if isinstance(statement, ast.ClassDef) else b"()"
        return indent.group() + keyword + names[0].encode(encoding) + parens + b": pass"
    return indent.group() + " = ".join([*names, "0"]).encode(encoding)
