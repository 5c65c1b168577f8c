"""A GitHub workflow read as YAML nodes, so every value keeps its place in the file.

``yaml.compose`` gives nodes with start marks; aliases already resolve to the anchored
node, and merge keys (``<<: *defaults``) are applied here the way the constructor would.
Nothing is resolved to Python values: the rules look at node text and positions.

:class:`Scalar` maps an offset inside a scalar's value back to the line and column in the
file, also for block scalars (``run: |``), where the script starts on the line after the
indicator, and for folded or quoted scalars, whose value differs from the source text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from scanners.finding import ParseFailure

MERGE_TAG = "tag:yaml.org,2002:merge"
# ``with:`` inputs through which actions take a shell script to run.
ACTION_COMMAND_INPUTS = ("run", "command", "commands", "script", "shell-script")


def load(text: str) -> Node | None:
    """The root node of ``text``; invalid YAML raises :class:`ParseFailure` with its place."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        raise ParseFailure(f"invalid YAML: {problem}", line, column) from None
    except yaml.YAMLError as exc:
        raise ParseFailure(f"invalid YAML: {exc}") from None


def mapping(
    node: Node | None, _seen: frozenset[int] = frozenset()
) -> dict[str, tuple[ScalarNode, Node]]:
    """``key -> (key node, value node)`` of a mapping node, merge keys applied.

    Explicit keys win over merged ones, and earlier merge sources over later ones, as in
    the YAML merge-key spec. Anything that is not a mapping is an empty dict; a merge that
    refers back to itself (``&a {<<: *a}``) is cut instead of recursing forever.
    """
    if not isinstance(node, MappingNode) or id(node) in _seen:
        return {}
    seen = _seen | {id(node)}
    merged: dict[str, tuple[ScalarNode, Node]] = {}
    explicit: dict[str, tuple[ScalarNode, Node]] = {}
    for key, value in node.value:
        if key.tag == MERGE_TAG or (isinstance(key, ScalarNode) and key.value == "<<"):
            sources = value.value if isinstance(value, SequenceNode) else [value]
            for source in reversed(sources):
                merged.update(mapping(source, seen))
        elif isinstance(key, ScalarNode):
            explicit[str(key.value)] = (key, value)
    merged.update(explicit)
    return merged


def sequence(node: Node | None) -> list[Node]:
    return list(node.value) if isinstance(node, SequenceNode) else []


def scalar_text(node: Node | None) -> str | None:
    return str(node.value) if isinstance(node, ScalarNode) else None


@dataclass(frozen=True)
class Scalar:
    """A scalar value and how its characters map to places in the source."""

    node: ScalarNode
    source: str

    @property
    def value(self) -> str:
        return str(self.node.value)

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) in the file of character ``offset`` of the value."""
        start = self.node.start_mark
        if self.node.style == "|":
            return self._literal_position(offset)
        # Plain, quoted and folded scalars: walk value and source side by side. The value
        # differs from the source only by dropped or folded line breaks, indentation,
        # quotes and escapes, so skipping unmatched source characters stays on the line.
        raw = self.source[start.index : self.node.end_mark.index]
        value = self.value
        j = 0
        if self.node.style in (">",):
            j = raw.find("\n") + 1 if "\n" in raw else len(raw)
        elif self.node.style in ("'", '"'):
            j = 1
        for i in range(min(offset, len(value))):
            ch = value[i]
            while j < len(raw) and raw[j] != ch and not (ch == " " and raw[j] == "\n"):
                j += 1
            j += 1
        while j < len(raw) and raw[j] in " \t\n":
            j += 1
        j = min(j, max(len(raw) - 1, 0))
        return self._at(start.index + j)

    def _literal_position(self, offset: int) -> tuple[int, int]:
        # Content line k of a literal block is source line (indicator line + 1 + k).
        value = self.value
        line_index = value.count("\n", 0, offset)
        line_start = value.rfind("\n", 0, offset) + 1
        column = offset - line_start
        first_line = self.node.start_mark.line + 1
        return first_line + line_index + 1, self._indent(first_line) + column + 1

    def _indent(self, first_line: int) -> int:
        lines = self.source.splitlines()[first_line:]
        value_lines = self.value.splitlines()
        for raw, text in zip(lines, value_lines, strict=False):
            if text.strip():
                return len(raw) - len(raw.lstrip(" ")) - (len(text) - len(text.lstrip(" ")))
        return 0

    def _at(self, index: int) -> tuple[int, int]:
        line = self.source.count("\n", 0, index)
        column = index - (self.source.rfind("\n", 0, index) + 1)
        return line + 1, column + 1


def position(node: Node) -> tuple[int, int]:
    """1-based (line, column) where a node starts."""
    return node.start_mark.line + 1, node.start_mark.column + 1


@dataclass(frozen=True)
class Step:
    node: Node
    job: Job

    @property
    def items(self) -> dict[str, tuple[ScalarNode, Node]]:
        return mapping(self.node)

    def run(self) -> Scalar | None:
        _, value = self.items.get("run", (None, None))
        if isinstance(value, ScalarNode) and value.tag != "tag:yaml.org,2002:null":
            return Scalar(value, self.job.workflow.source)
        return None

    def text(self, key: str) -> str | None:
        """A scalar key's text (``uses``, ``id``, ``if``, ``name``...), None when absent."""
        return scalar_text(self.items.get(key, (None, None))[1])

    def action_inputs(self) -> Iterator[Scalar]:
        """Shell commands handed to an action (``with: run:``, ``with: command:``).

        Actions such as benchmark runners, retry wrappers and emulators run these in a
        shell of their own; ``actions/github-script``'s ``script`` is JavaScript.
        """
        uses = self.text("uses") or ""
        if not uses or "github-script" in uses:
            return
        inputs = mapping(self.items.get("with", (None, None))[1])
        for name in ACTION_COMMAND_INPUTS:
            _, value = inputs.get(name, (None, None))
            if isinstance(value, ScalarNode) and value.tag != "tag:yaml.org,2002:null":
                yield Scalar(value, self.job.workflow.source)

    def shell(self) -> str | None:
        """The shell template this step runs with, None for the runner's default."""
        own = scalar_text(self.items.get("shell", (None, None))[1])
        return own if own is not None else self.job.default_shell()


@dataclass(frozen=True)
class Job:
    job_id: str
    key: ScalarNode
    node: Node
    workflow: Workflow

    @property
    def items(self) -> dict[str, tuple[ScalarNode, Node]]:
        return mapping(self.node)

    @property
    def calls_workflow(self) -> bool:
        return "uses" in self.items

    def text(self, key: str) -> str | None:
        return scalar_text(self.items.get(key, (None, None))[1])

    def steps(self) -> Iterator[Step]:
        for node in sequence(self.items.get("steps", (None, None))[1]):
            yield Step(node, self)

    def default_shell(self) -> str | None:
        for items in (self.items, self.workflow.items):
            run = mapping(
                mapping(items.get("defaults", (None, None))[1]).get("run", (None, None))[1]
            )
            shell = scalar_text(run.get("shell", (None, None))[1])
            if shell is not None:
                return shell
        return None

    def on_windows(self) -> bool:
        runs_on = self.items.get("runs-on", (None, None))[1]
        texts = [scalar_text(runs_on)] + [scalar_text(n) for n in sequence(runs_on)]
        return any(t is not None and "windows" in t.lower() for t in texts)


@dataclass(frozen=True)
class Workflow:
    path: str
    source: str
    root: Node | None

    @property
    def items(self) -> dict[str, tuple[ScalarNode, Node]]:
        return mapping(self.root)

    def jobs(self) -> Iterator[Job]:
        for job_id, (key, node) in mapping(self.items.get("jobs", (None, None))[1]).items():
            yield Job(job_id, key, node, self)

    def env_nodes(self) -> Iterator[tuple[str, ScalarNode]]:
        """Every ``env:`` entry of the workflow, its jobs and their steps."""
        owners: list[Node] = [self.root] if self.root is not None else []
        for job in self.jobs():
            owners.append(job.node)
            owners.extend(step.node for step in job.steps())
        for owner in owners:
            for name, (_, value) in mapping(mapping(owner).get("env", (None, None))[1]).items():
                if isinstance(value, ScalarNode):
                    yield name, value


def read_workflow(path: str, source: bytes) -> Workflow:
    try:
        text = source.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseFailure(f"cannot decode as UTF-8: {exc.reason}") from None
    return Workflow(path, text, load(text))
