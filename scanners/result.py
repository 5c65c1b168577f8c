"""What scanning one file produces, and its plain-JSON form for the cache."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from scanners.finding import Finding
from scanners.suppressions import Suppressed

# (first line index, end line index, replacement lines): a difflib opcode over the file's
# lines. Text is the file's bytes decoded as latin-1, which round-trips any byte.
Hunk = tuple[int, int, list[str]]


@dataclass
class FileResult:
    """Everything one file contributes: reported and suppressed findings, and the hunks
    that fix every reported fixable finding (empty when there is nothing to fix, None when
    there is but the fix was not asked for: preparing it costs a second parse)."""

    findings: list[Finding] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)
    fix: list[Hunk] | None = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.findings:
            data["f"] = [dataclasses.astuple(f) for f in self.findings]
        if self.suppressed:
            data["s"] = [[dataclasses.astuple(s.finding), s.reason] for s in self.suppressed]
        if self.fix is None:
            data["x"] = None
        elif self.fix:
            data["x"] = [list(h) for h in self.fix]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileResult:
        return cls(
            [Finding(*f) for f in data.get("f", ())],
            [Suppressed(Finding(*f), reason) for f, reason in data.get("s", ())],
            None
            if "x" in data and data["x"] is None
            else [(int(a), int(b), list(lines)) for a, b, lines in data.get("x", ())],
        )
