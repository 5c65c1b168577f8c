"""A small POSIX shell reader for ``run:`` scripts: statements, not lines.

The workflow rules ask questions a regex over the block cannot answer reliably: is this
``|| true`` an operator or text inside a string, a comment or a heredoc; which command does
a ``|`` pipe from; has ``set -o pipefail`` run before this pipeline. This module splits a
script into and-or lists (``a && b || c``), pipelines (``a | b``) and simple commands with
their quote-removed words, keeping every offset so findings land on the right line.

It is deliberately not a full shell parser: compound commands are flattened (``if a; then
b; fi`` yields the commands ``a`` and ``b``), ``$( ... )`` and backquotes are read as their
own scripts, and expansions are kept as text. GitHub expressions (``${{ ... }}``) are
blanked out first, since their ``||`` is not the shell's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

# Words that open or close a compound command; the command proper follows them.
RESERVED = frozenset(
    {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "time"}
    | {"esac", "in"}
)
_OPERATORS = (
    "&>>", "<<-", "<<<", "&&", "||", "|&", ";;", ">>", "<<", ">&", "<&", "&>", ">|", "<>",
    "|", "&", ";", "(", ")", "<", ">",
)  # fmt: skip
_REDIRECTIONS = frozenset({"&>>", "<<<", ">>", ">&", "<&", "&>", ">|", "<>", "<", ">"})
_SEPARATORS = frozenset({";", "&", ";;", "(", ")", "\n"})
_EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)


@dataclass(frozen=True)
class Word:
    """A word with quotes removed; ``start`` and ``end`` are its raw offsets in the script."""

    text: str
    start: int
    end: int = -1


@dataclass
class Command:
    """A simple command: its words after assignments, reserved words and redirections.

    ``assignments`` are the ``NAME=value`` words before it (``VAR=1 pytest``),
    ``redirects`` the targets of its redirections (``>> "$GITHUB_ENV"``). ``condition``
    says the command is the test of an ``if``/``elif``/``while``/``until`` or negated
    with ``!``: its status is looked at, not dropped.
    """

    words: list[Word]
    start: int
    grouped: bool = False  # the command opens a `{ ...; }` group or a `( ... )` subshell
    assignments: list[Word] = field(default_factory=list)
    redirects: list[Word] = field(default_factory=list)
    condition: bool = False
    group_end: int = -1  # for a grouped command: offset of the group's `}` or `)`

    @property
    def argv(self) -> list[str]:
        return [w.text for w in self.words]

    @property
    def end(self) -> int:
        """Offset just after the command's last word (or redirection target)."""
        return max(w.end for w in [*self.words, *self.redirects, *self.assignments])


@dataclass
class Pipeline:
    commands: list[Command]
    start: int


@dataclass
class Statement:
    """An and-or list: pipelines joined by ``&&``/``||`` (``operators[i]`` follows ``i``)."""

    pipelines: list[Pipeline]
    operators: list[str] = field(default_factory=list)
    nested: bool = False  # read from inside `$( )` or backquotes

    @property
    def start(self) -> int:
        return self.pipelines[0].start


@dataclass(frozen=True)
class _Token:
    kind: str  # "word" or "op"
    text: str
    start: int
    end: int = -1


def blank_expressions(script: str) -> str:
    """Replace ``${{ ... }}`` by underscores of the same length (offsets stay valid)."""
    return _EXPRESSION.sub(lambda m: re.sub(r"[^\n]", "_", m.group()), script)


class _Lexer:
    def __init__(self, text: str, base: int, nested: list[Statement]) -> None:
        self.text = text
        self.base = base
        self.nested = nested  # statements found inside $( ) and backquotes
        self.pos = 0
        self.tokens: list[_Token] = []
        self.heredocs: list[tuple[str, bool]] = []

    def run(self) -> list[_Token]:
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch in " \t\r":
                self.pos += 1
            elif ch == "\\" and text.startswith("\n", self.pos + 1):
                self.pos += 2  # line continuation
            elif ch == "#":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            elif ch == "\n":
                self.tokens.append(_Token("op", "\n", self.base + self.pos))
                self.pos += 1
                self._skip_heredoc_bodies()
            elif (
                self.text.startswith("[[", self.pos)
                and self.text[self.pos + 2 : self.pos + 3] in " \t"
            ):
                self._test_expression()
            elif op := self._operator():
                self.tokens.append(_Token("op", op, self.base + self.pos))
                self.pos += len(op)
                if op in ("<<", "<<-"):
                    self._heredoc_delimiter(strip_tabs=op == "<<-")
            else:
                self._word()
        return self.tokens

    def _test_expression(self) -> None:
        """``[[ ... ]]`` is one command; its ``(``, ``|`` and ``<`` are not operators."""
        end = self.text.find("]]", self.pos + 2)
        end = len(self.text) if end < 0 else end
        start = self.base + self.pos
        inner = self.text[self.pos + 2 : end].strip()
        self.tokens.append(_Token("word", "[[", start, start + 2))
        if inner:
            self.tokens.append(_Token("word", inner, start + 3, self.base + end))
        self.tokens.append(_Token("word", "]]", self.base + end, self.base + end + 2))
        self.pos = min(end + 2, len(self.text))

    def _operator(self) -> str | None:
        for op in _OPERATORS:
            if self.text.startswith(op, self.pos):
                return op
        return None

    def _word(self) -> None:
        text, start, chars = self.text, self.pos, []
        while self.pos < len(text):
            ch = text[self.pos]
            if ch in " \t\r\n" or self._operator():
                break
            if ch == "\\":
                if text.startswith("\n", self.pos + 1):
                    self.pos += 2
                    continue
                chars.append(text[self.pos + 1 : self.pos + 2])
                self.pos += 2
            elif ch == "'":
                end = text.find("'", self.pos + 1)
                end = len(text) if end < 0 else end
                chars.append(text[self.pos + 1 : end])
                self.pos = end + 1
            elif ch == '"':
                self.pos += 1
                while self.pos < len(text) and text[self.pos] != '"':
                    if text[self.pos] == "\\" and self.pos + 1 < len(text):
                        self.pos += 1
                    chars.append(text[self.pos])
                    self.pos += 1
                self.pos += 1
            elif text.startswith("$(", self.pos) and not text.startswith("$((", self.pos):
                end = self._matching_paren(self.pos + 2)
                self._nested(self.pos + 2, end)
                chars.append(text[self.pos : end + 1])
                self.pos = end + 1
            elif ch == "`":
                end = text.find("`", self.pos + 1)
                end = len(text) if end < 0 else end
                self._nested(self.pos + 1, end)
                chars.append(text[self.pos : end + 1])
                self.pos = end + 1
            elif text.startswith("${", self.pos) or text.startswith("$((", self.pos):
                close = "}" if text[self.pos + 1] == "{" else "))"
                end = text.find(close, self.pos)
                end = len(text) if end < 0 else end + len(close) - 1
                chars.append(text[self.pos : end + 1])
                self.pos = end + 1
            else:
                chars.append(ch)
                self.pos += 1
        self.tokens.append(_Token("word", "".join(chars), self.base + start, self.base + self.pos))

    def _matching_paren(self, index: int) -> int:
        depth, quote = 1, ""
        while index < len(self.text):
            ch = self.text[index]
            if quote:
                if ch == quote:
                    quote = ""
                elif ch == "\\" and quote == '"':
                    index += 1
            elif ch in "'\"":
                quote = ch
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    return index
            index += 1
        return len(self.text)

    def _nested(self, start: int, end: int) -> None:
        self.nested.extend(parse_script(self.text[start:end], self.base + start))

    def _heredoc_delimiter(self, strip_tabs: bool) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1
        before = len(self.tokens)
        self._word()
        delimiter = self.tokens[before].text if len(self.tokens) > before else ""
        self.heredocs.append((delimiter, strip_tabs))

    def _skip_heredoc_bodies(self) -> None:
        for delimiter, _strip_tabs in self.heredocs:
            while self.pos < len(self.text):
                end = self.text.find("\n", self.pos)
                end = len(self.text) if end < 0 else end
                line = self.text[self.pos : end]
                self.pos = end + 1
                if line.strip() == delimiter:
                    break
        self.heredocs.clear()


_COMMAND_START = frozenset({";", "\n", "&&", "||", "|", "|&", "&", ";;", "(", ")"})


def _at_command_start(kept: list[_Token]) -> bool:
    """Whether the next word starts a command (the first word, or one after a separator
    or a reserved word such as ``then``)."""
    if not kept:
        return True
    last = kept[-1]
    return last.text in _COMMAND_START if last.kind == "op" else last.text in RESERVED


def _without_case_patterns(tokens: list[_Token]) -> list[_Token]:
    """``tokens`` with the ``case WORD in`` heads and the pattern lists of ``case`` blocks
    removed: ``feat|fix|build) ...;;`` is a list of patterns, not a pipeline of commands.

    Each branch's commands stay, after a separator; ``case`` blocks may nest.
    """
    kept: list[_Token] = []
    states: list[str] = []  # per open case: "pattern" or "body"
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        is_word = token.kind == "word"
        if is_word and token.text == "case" and _at_command_start(kept):
            while index < len(tokens) and not (
                tokens[index].kind == "word" and tokens[index].text == "in"
            ):
                index += 1  # the word matched: an argument, not a command
            index += 1
            kept.append(_Token("op", ";", token.start, token.end))
            states.append("pattern")
            continue
        if states and states[-1] == "pattern":
            if is_word and token.text == "esac":
                states.pop()
                kept.append(_Token("op", ";", token.start, token.end))
            elif token.kind == "op" and token.text == ")":
                states[-1] = "body"
                kept.append(_Token("op", ";", token.start, token.end))
            continue  # a pattern, its `|` and `(`, or a newline between branches
        if states and token.kind == "op" and token.text == ";;":
            states[-1] = "pattern"
        elif states and is_word and token.text == "esac" and _at_command_start(kept):
            states.pop()  # the last branch may end without `;;`
            token = _Token("op", ";", token.start, token.end)
        kept.append(token)
    return kept


def _commands(tokens: list[_Token]) -> Iterator[tuple[str, Command | None]]:
    """Yield (operator before, command) pairs; operators are ``&&``, ``||``, ``|`` or ``;``.

    A subshell after ``&&``/``||`` (``make check || (echo skipped && $(exit 0))``) is
    that operator's right side: its first command comes with the operator, marked
    ``grouped``, like the first command of a ``{ ...; }`` group. Both get ``group_end``,
    the offset of their closing ``)`` or ``}``, so a rule can read what the group does.
    """
    words: list[Word] = []
    targets: list[Word] = []
    redirect = False
    operator = ";"
    subshell = False  # a `(` right after `&&`/`||`: the next command opens it
    closed = False  # the last token closed a `( ... )` subshell
    open_groups: list[tuple[str, Command | None]] = []  # (closer, grouped command)

    def command() -> Command | None:
        nonlocal subshell
        made = _command(words, targets)
        if words and words[0].text == "}" and "}" in [c for c, _ in open_groups]:
            while open_groups:
                closer, opener = open_groups.pop()
                if closer == "}":
                    if opener is not None:
                        opener.group_end = words[0].start
                    break
        elif words and words[0].text == "{":
            open_groups.append(("}", made))
        if subshell and made is not None:
            made.grouped, subshell = True, False
            open_groups[-1] = (")", made)
        return made

    for token in tokens:
        if token.kind == "word":
            (targets if redirect else words).append(Word(token.text, token.start, token.end))
            redirect = closed = False
            continue
        if token.text in _REDIRECTIONS or token.text in ("<<", "<<-"):
            # The next word is the target (or heredoc delimiter), not an argument; an
            # io-number glued to the operator (the 2 of 2>&1) is not one either.
            last = words[-1] if words else None
            if last and last.text.isdigit() and token.start == last.start + len(last.text):
                words.pop()
            redirect = True
            continue
        if token.text == "\n" and operator in ("&&", "||", "|", "|&") and not words:
            continue  # a newline after these operators continues the list
        if token.text == "\n" and words and all(w.text == "{" for w in words):
            continue  # `|| {` then a newline: the group's first command is on the next line
        if token.text == "(" and not words and operator in ("&&", "||"):
            subshell = True
            open_groups.append((")", None))
            continue
        if token.text in ("&&", "||") and (closed or [w.text for w in words] == ["}"]):
            # `(cd docs && make html) || true`: the group's status is its last
            # statement's, so that statement goes on with the operator.
            command()
            words, targets, closed = [], [], False
            operator = token.text
            continue
        closed = token.text == ")"
        yield operator, command()
        words, targets = [], []
        if token.text == "(":
            open_groups.append((")", None))  # a subshell or `f()`: keeps `)` balanced
        elif token.text == ")" and open_groups:
            closer, opener = open_groups.pop()
            if closer == ")" and opener is not None:
                opener.group_end = token.start
        operator = token.text if token.text not in _SEPARATORS else ";"
    yield operator, command()


_CONDITIONS = frozenset({"if", "elif", "while", "until", "!"})


def _command(words: list[Word], redirects: list[Word]) -> Command | None:
    grouped = condition = False
    assignments: list[Word] = []
    while words and (words[0].text in RESERVED or _is_assignment(words[0].text)):
        grouped = grouped or words[0].text == "{"
        condition = condition or words[0].text in _CONDITIONS
        if _is_assignment(words[0].text):
            assignments.append(words[0])
        words = words[1:]
    if not words:
        return None
    return Command(words, words[0].start, grouped, assignments, redirects, condition)


def _is_assignment(word: str) -> bool:
    name, eq, _ = word.partition("=")
    return bool(eq) and name.isidentifier()


def parse_script(script: str, base: int = 0) -> list[Statement]:
    """Statements of ``script`` in order, then those inside ``$( )``; offsets from ``base``."""
    nested: list[Statement] = []
    tokens = _without_case_patterns(_Lexer(blank_expressions(script), base, nested).run())
    statements: list[Statement] = []
    current: Statement | None = None
    for operator, command in _commands(tokens):
        if operator in ("|", "|&") and current is not None:
            if command is not None:
                current.pipelines[-1].commands.append(command)
            continue
        if command is None:
            if operator == ";":
                current = None
            continue
        if operator in ("&&", "||") and current is not None:
            current.operators.append(operator)
            current.pipelines.append(Pipeline([command], command.start))
            continue
        current = Statement([Pipeline([command], command.start)])
        statements.append(current)
    for statement in nested:
        statement.nested = True
    return statements + nested
