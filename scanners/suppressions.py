"""Suppression comments: ``# gridgate: ignore[GG001,GG005] reason``.

A suppression on a line with code covers findings on that line. One on a line of its own
covers the next line that is not itself a comment, so several can be stacked above a
statement. In Python only real comments count (found with ``tokenize``, so the text inside
a string or docstring is never a suppression); in workflow YAML any ``#`` comment counts,
including a shell comment inside a ``run:`` block, which is where GW findings point.

Two findings come from the comments themselves:

- GG011 ``bare-ignore``: ``# gridgate: ignore`` without codes. It suppresses nothing: a
  blanket suppression hides every future finding on the line too.
- GG012 ``unused-ignore``: a code in a suppression that matched no finding in this run.
  Only codes that are selected for the file are judged, so ``--select GG001`` never calls
  an ``ignore[GG005]`` unused.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from scanners.finding import Finding

BARE_IGNORE = ("GG011", "bare-ignore")
UNUSED_IGNORE = ("GG012", "unused-ignore")

_MARKER = b"gridgate"
_COMMENT = re.compile(
    r"#\s*gridgate:\s*ignore(?![\w-])(?:\[(?P<codes>[^\]]*)\])?\s*(?P<reason>.*)$",
)


@dataclass(frozen=True)
class Suppression:
    line: int  # where the comment is
    column: int
    codes: tuple[str, ...]  # empty for a bare ignore
    reason: str
    covers: int  # the line whose findings it suppresses


@dataclass(frozen=True)
class Suppressed:
    finding: Finding
    reason: str


def _parse(text: str, line: int, column: int, covers: int) -> Suppression | None:
    match = _COMMENT.search(text)
    if match is None:
        return None
    codes_text = match.group("codes")
    codes = tuple(c.strip() for c in (codes_text or "").split(",") if c.strip())
    if codes_text is not None and not codes:
        codes = ("",)  # `ignore[]`: treat like a bare ignore below
    return Suppression(
        line=line,
        column=column + match.start() + 1,
        codes=tuple(c for c in codes if c),
        reason=match.group("reason").strip(),
        covers=covers,
    )


def _python_comments(source: bytes) -> Iterator[tuple[int, int, str, bool]]:
    """(line, column, text, own_line) of every comment; nothing if the file won't tokenize."""
    try:
        tokens = list(tokenize.tokenize(io.BytesIO(source).readline))
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError, LookupError):
        return
    for token in tokens:
        if token.type == tokenize.COMMENT:
            own = token.line[: token.start[1]].strip() == ""
            yield token.start[0], token.start[1], token.string, own


def _yaml_comments(source: bytes) -> Iterator[tuple[int, int, str, bool]]:
    text = source.decode("utf-8", "replace")
    for number, line in enumerate(text.splitlines(), start=1):
        index = line.find("#")
        while index != -1:
            if index == 0 or line[index - 1] in " \t":
                yield number, index, line[index:], line[:index].strip() == ""
                break
            index = line.find("#", index + 1)


def find_suppressions(source: bytes, kind: str) -> list[Suppression]:
    if _MARKER not in source:
        return []  # the cheap common case: no tokenizing at all
    comments = list(_python_comments(source) if kind == "python" else _yaml_comments(source))
    comment_only = {line for line, _, _, own in comments if own}
    found: list[Suppression] = []
    for line, column, text, own in comments:
        covers = line
        if own:
            covers = line + 1
            while covers in comment_only:
                covers += 1
        suppression = _parse(text, line, column, covers)
        if suppression is not None:
            found.append(suppression)
    return found


def apply(
    path: str,
    source: bytes,
    kind: str,
    findings: Sequence[Finding],
    selected: Callable[[str], bool],
) -> tuple[list[Finding], list[Suppressed]]:
    """Split ``findings`` into (reported, suppressed); add GG011/GG012 findings."""
    suppressions = find_suppressions(source, kind)
    if not suppressions:
        return list(findings), []
    by_line: dict[int, list[Suppression]] = {}
    for suppression in suppressions:
        by_line.setdefault(suppression.covers, []).append(suppression)
        if suppression.line != suppression.covers:
            by_line.setdefault(suppression.line, []).append(suppression)
    used: set[tuple[int, str]] = set()
    reported: list[Finding] = []
    suppressed: list[Suppressed] = []
    for finding in findings:
        match = next(
            (s for s in by_line.get(finding.line, ()) if finding.rule in s.codes),
            None,
        )
        if match is None:
            reported.append(finding)
        else:
            used.add((match.line, finding.rule))
            suppressed.append(Suppressed(finding, match.reason))
    for s in suppressions:
        if not s.codes:
            if selected(BARE_IGNORE[0]):
                reported.append(
                    Finding(
                        path=path,
                        line=s.line,
                        column=s.column,
                        rule=BARE_IGNORE[0],
                        name=BARE_IGNORE[1],
                        message="bare `# gridgate: ignore` suppresses nothing; name the codes: "
                        "`# gridgate: ignore[CODE] reason`",
                        source="# gridgate: ignore",
                    )
                )
            continue
        for code in s.codes:
            if (s.line, code) in used or not selected(code) or not selected(UNUSED_IGNORE[0]):
                continue
            reported.append(
                Finding(
                    path=path,
                    line=s.line,
                    column=s.column,
                    rule=UNUSED_IGNORE[0],
                    name=UNUSED_IGNORE[1],
                    message=f"unused suppression: no {code} finding on line {s.covers}",
                    source=f"# gridgate: ignore[{code}]",
                )
            )
    return reported, suppressed
