"""The rule interface: :class:`Rule` with its declaration, the :class:`Context` it asks while
visiting, and the :class:`Violation` it reports. Every GG rule (and every third-party rule)
needs only this module (and :class:`~scanners.rules.declaration.Argument` to declare one);
nothing here imports the engine, so there is no cycle.

A rule is checked in three tiers, cheapest first, and each tier may only drop a file when the
rule provably cannot fire in it. The first two are derived from what the rule declares it
looks for (``calls``, ``methods``, ``called_names``, ``keywords``, ``raises``, ``imports``,
``definitions``; see :mod:`scanners.rules.tiers`):

1. words that must occur in the file's bytes (a call that resolves to
   ``asyncio.get_event_loop`` needs the word ``get_event_loop`` somewhere);
2. the lines of the file's ``ast`` that may hold what the rule looks for (calls that may
   resolve to ``sys.exit`` outside a main guard), from which the part of the file that
   libcst parses is cut;
3. :meth:`Rule.visit`: the precise check on the libcst tree, called for each node of a type
   in :attr:`Rule.node_types`, with a :class:`Context` that knows
   scopes, imports and the enclosing ``async def``/main guard/``TYPE_CHECKING`` block.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import libcst as cst

from pytest_gridgate.settings import ScanSettings
from scanners.rules.declaration import Argument
from scanners.rules.names import dotted_name, is_main_guard
from scanners.rules.scopes import Scope, ScopeTable

if TYPE_CHECKING:
    from scanners.rules.ast_facts import AstFacts


@dataclass(frozen=True)
class Example:
    """A VALID or INVALID example: source, the path it lives at, how many findings, and
    (INVALID) where: ``at`` holds each finding's 1-based ``(line, column)``, ``fixed`` the
    code after ``--fix`` when the rule offers a fix. The tests run every example."""

    code: str
    path: str = "pkg/module.py"
    count: int = 1
    at: tuple[tuple[int, int], ...] = ()
    fixed: str | None = None


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

    # What the rule looks for: the cheap tiers are derived from it (see
    # :mod:`scanners.rules.tiers`), so a rule that declares it writes only :meth:`visit`.
    # Settings-dependent entries (``called_names``, ``imports``, ``definitions``) may be
    # set per instance in ``__init__``.
    #: Qualified names of the calls it flags (``"sys.exit"``), resolved through imports.
    calls: ClassVar[Collection[str]] = ()
    #: Method names it flags on any receiver (``"run_until_complete"``).
    methods: ClassVar[Collection[str]] = ()
    #: Callees it flags by their last name as written or imported (``plugin.run()``,
    #: ``self.plugin.run()``, ``from app import run as go; go()``); None: any call.
    called_names: Collection[str] | None = ()
    #: Calls passing a keyword with a literal value (``{"shell": True}``).
    keywords: ClassVar[Mapping[str, bool | None]] = {}
    #: Qualified names of the exceptions whose ``raise`` it flags.
    raises: ClassVar[Collection[str]] = ()
    #: Modules whose import (or a submodule's) it flags.
    imports: Collection[str] = ()
    #: Names of the functions it checks; each such definition is seen whole.
    definitions: Collection[str] = ()
    #: Per call target or method: the argument whose presence rules the call out.
    unless_given: ClassVar[Mapping[str, Argument]] = {}
    #: Per call target or method: the calls its check reads too (GG006: ``.wait()`` is on
    #: a process when ``Popen`` made it). Without one in the file it cannot be flagged.
    needs: ClassVar[Mapping[str, Collection[str]]] = {}
    #: Only calls directly inside ``async def`` can be flagged.
    only_in_async: ClassVar[bool] = False
    #: Calls under a top-level ``if __name__ == "__main__":`` are never flagged.
    outside_main_guard: ClassVar[bool] = False

    def __init__(self, settings: ScanSettings, path: str) -> None:
        self.settings = settings
        self.path = path

    def applies(self) -> bool:
        """Whether the rule can fire in this file at all (e.g. its setting is configured)."""
        return True

    # Escape hatches for a rule whose question does not fit the declaration: the engine
    # uses them instead of the derived tiers when a rule overrides them.

    def tokens(self) -> re.Pattern[bytes] | None:
        """A regex that must match somewhere in the file's bytes (None: no such tier)."""
        return None

    def is_candidate(self, facts: AstFacts) -> bool:
        """Whether the file's ``ast`` holds anything the rule could flag (conservative)."""
        return True

    def candidate_lines(self, facts: AstFacts) -> set[int] | None:
        """The lines the rule needs to see (the flagged code and whatever context outside
        it the check reads), or None for the whole file; an empty set drops the file."""
        return None

    def visit(self, node: cst.CSTNode, ctx: Context) -> None:
        """Check one node of a type in :attr:`node_types`; report through ``ctx.report``."""

    def finish(self, ctx: Context) -> None:
        """Called once after the traversal, for rules that decide at the end of the file."""


def examples(items: Sequence[str | Example]) -> list[Example]:
    return [item if isinstance(item, Example) else Example(item) for item in items]


@dataclass
class Frame:
    node: cst.CSTNode  # the node whose body opened the frame
    kind: str  # "function" | "lambda" | "class" | "main" | "type_checking" | "timeout"
    scope: Scope | None = None
    is_async: bool = False
    opener: cst.CSTNode | None = None  # the node (usually the body block) whose leave ends it


@dataclass
class Violation:
    """What a rule reports: a node, the message, and optionally the node's replacement.

    A violation with a ``replacement`` is fixable: ``--fix`` swaps the node for it (see
    :mod:`scanners.rules.fixer`). ``source`` overrides the normalised code the baseline keys
    on (GG007 reports ``def ToolRunner.run`` rather than the whole function).
    """

    rule: Rule
    node: cst.CSTNode
    message: str
    replacement: cst.CSTNode | None = None
    source: str | None = None

    @property
    def fixable(self) -> bool:
        return self.replacement is not None


class Context:
    """What a rule may ask while visiting a node."""

    def __init__(self, path: str, module: cst.Module, scopes: ScopeTable) -> None:
        self.path = path
        self.module = module
        self.scopes = scopes
        self.is_main_module = path.replace("\\", "/").rsplit("/", 1)[-1] == "__main__.py"
        self.stack: list[cst.CSTNode] = []  # ancestors of the node being visited
        self.frames: list[Frame] = []
        self.reports: list[Violation] = []
        # Source-order number (1-based, per type) of each node of COUNTED_TYPES, and totals.
        self.ordinals: dict[int, int] = {}
        self.counts: dict[type[cst.CSTNode], int] = {}
        self._main_guarded: bool | None = None

    # -- names ----------------------------------------------------------------------------

    @property
    def scope(self) -> Scope:
        for frame in reversed(self.frames):
            if frame.scope is not None:
                return frame.scope
        return self.scopes.module_scope

    def qualified_name(self, node: cst.BaseExpression) -> str | None:
        """The resolved name of ``node`` when its head comes from an import (or a builtin)."""
        written = dotted_name(node)
        return None if written is None else self.scopes.resolve(written, self.scope)

    def written_name(self, node: cst.BaseExpression) -> str | None:
        return dotted_name(node)

    def is_imported(self, node: cst.BaseExpression) -> bool:
        written = dotted_name(node)
        return written is not None and self.scopes.is_import_bound(written, self.scope)

    # -- where are we ---------------------------------------------------------------------

    @property
    def parent(self) -> cst.CSTNode | None:
        return self.stack[-1] if self.stack else None

    def _innermost(self, kinds: tuple[str, ...]) -> Frame | None:
        for frame in reversed(self.frames):
            if frame.kind in kinds:
                return frame
        return None

    @property
    def function(self) -> cst.FunctionDef | None:
        """The innermost enclosing ``def`` (a lambda counts as none)."""
        frame = self._innermost(("function", "lambda"))
        if frame is None or not isinstance(frame.node, cst.FunctionDef):
            return None
        return frame.node

    @property
    def in_async(self) -> bool:
        """Directly inside an ``async def`` (a nested sync ``def`` or lambda is not)."""
        frame = self._innermost(("function", "lambda"))
        return frame is not None and frame.is_async

    @property
    def at_module_level(self) -> bool:
        """Executed on import: not inside any function or lambda (class bodies count)."""
        return self._innermost(("function", "lambda")) is None

    @property
    def enclosing_class(self) -> cst.ClassDef | None:
        """The class a method (the innermost function) is defined in, if any."""
        for index in range(len(self.frames) - 1, -1, -1):
            if self.frames[index].kind in ("function", "lambda"):
                for outer in reversed(self.frames[:index]):
                    if outer.kind in ("function", "lambda"):
                        return None
                    if outer.kind == "class" and isinstance(outer.node, cst.ClassDef):
                        return outer.node
                return None
        return None

    @property
    def class_names(self) -> list[str]:
        return [f.node.name.value for f in self.frames if isinstance(f.node, cst.ClassDef)]

    @property
    def module_has_main_guard(self) -> bool:
        """Whether the module has a top-level ``if __name__ == "__main__":``."""
        if self._main_guarded is None:
            self._main_guarded = any(
                isinstance(statement, cst.If) and is_main_guard(statement.test)
                for statement in self.module.body
            )
        return self._main_guarded

    @property
    def in_main_guard(self) -> bool:
        return any(frame.kind == "main" for frame in self.frames)

    @property
    def in_type_checking(self) -> bool:
        return any(frame.kind == "type_checking" for frame in self.frames)

    @property
    def in_timeout(self) -> bool:
        """Inside ``async with asyncio.timeout(...)`` (or similar) of the current function."""
        for frame in reversed(self.frames):
            if frame.kind == "timeout":
                return True
            if frame.kind in ("function", "lambda"):
                return False
        return False

    # -- reporting ------------------------------------------------------------------------

    def report(
        self,
        rule: Rule,
        node: cst.CSTNode,
        message: str,
        *,
        replacement: cst.CSTNode | None = None,
        source: str | None = None,
    ) -> None:
        """Report ``node``; with a ``replacement`` the violation is fixable (``--fix``
        puts it in the node's place); ``source`` overrides the normalised code the baseline
        keys on."""
        self.reports.append(Violation(rule, node, message, replacement, source))
