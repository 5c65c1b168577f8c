"""What a rule is: the base class every GG rule (and every third-party rule) derives from.

A rule is checked in three tiers, cheapest first, and each tier may only drop a file when the
rule provably cannot fire in it:

1. :meth:`Rule.tokens`: a bytes regex that must occur in the file's text (a call that
   resolves to ``asyncio.get_event_loop`` needs the token ``get_event_loop`` somewhere);
2. :meth:`Rule.candidate_lines` (or the plain yes/no :meth:`Rule.is_candidate`): a
   question about the file's ``ast`` (on which lines is there a call that may resolve to
   ``sys.exit``?), answered from :class:`~scanners.rules.prefilter.AstFacts`;
3. :meth:`Rule.visit`: the precise check on the libcst tree, called for each node of a type
   in :attr:`Rule.node_types`, with a :class:`~scanners.rules.analysis.Context` that knows
   scopes, imports and the enclosing ``async def``/main guard/``TYPE_CHECKING`` block.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import libcst as cst

from pytest_gridgate.config import ScanSettings

if TYPE_CHECKING:
    from scanners.rules.analysis import Context
    from scanners.rules.prefilter import AstFacts


@dataclass(frozen=True)
class Example:
    """A VALID or INVALID example: source, the path it lives at, and how many findings."""

    code: str
    path: str = "pkg/module.py"
    count: int = 1


class Rule:
    """Base class of Python source rules. Subclass, set the class attributes, override hooks.

    One instance checks one file: ``settings`` and ``path`` (``/``-separated, as the engine
    reports it) are available as attributes.
    """

    code: ClassVar[str] = ""
    name: ClassVar[str] = ""
    fixable: ClassVar[bool] = False
    node_types: ClassVar[tuple[type[cst.CSTNode], ...]] = ()
    VALID: ClassVar[Sequence[str | Example]] = ()
    INVALID: ClassVar[Sequence[str | Example]] = ()
    #: Settings the VALID/INVALID examples are checked with (and shown in the docs).
    EXAMPLE_SETTINGS: ClassVar[ScanSettings] = ScanSettings()

    def __init__(self, settings: ScanSettings, path: str) -> None:
        self.settings = settings
        self.path = path

    def applies(self) -> bool:
        """Whether the rule can fire in this file at all (e.g. its setting is configured)."""
        return True

    def tokens(self) -> re.Pattern[bytes] | None:
        """A regex that must match somewhere in the file's bytes, or None to skip tier 1."""
        return None

    def is_candidate(self, facts: AstFacts) -> bool:
        """Whether the file's ``ast`` holds anything the rule could flag (conservative).

        Only asked when :meth:`candidate_lines` returns None.
        """
        return True

    def candidate_lines(self, facts: AstFacts) -> set[int] | None:
        """The lines where the rule could report something, or None when it needs the
        whole file. An empty set drops the rule for this file. Top-level functions and
        classes that hold no candidate line of any rule are not parsed by libcst (see
        :mod:`scanners.rules.skeleton`), so a rule must include every line it needs to
        *see*: the flagged code and whatever context outside it the check reads."""
        return None

    def visit(self, node: cst.CSTNode, ctx: Context) -> None:
        """Check one node of a type in :attr:`node_types`; report through ``ctx.report``."""

    def finish(self, ctx: Context) -> None:
        """Called once after the traversal, for rules that decide at the end of the file."""


def examples(items: Sequence[str | Example]) -> list[Example]:
    return [item if isinstance(item, Example) else Example(item) for item in items]
