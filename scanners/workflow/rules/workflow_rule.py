"""What every workflow rule shares: the rule class, its hits, and the scripts it reads.

Each rule is a small class in its own module: ``code``, ``name``, a docstring saying what
it flags, why that is bad, an example and the fix, plus ``VALID`` and ``INVALID`` workflow
snippets that the tests run through the scanner. ``check`` yields
:class:`WorkflowViolation` (a Python rule reports :class:`scanners.rules.rule.Violation`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

from scanners.workflow.commands import gate_name
from scanners.workflow.document import Scalar, Step, Workflow
from scanners.workflow.script import Command, Statement, parse_script


class WorkflowViolation(NamedTuple):
    line: int
    column: int
    message: str
    severity: str = "error"


class WorkflowRule:
    code: ClassVar[str]
    name: ClassVar[str]
    VALID: ClassVar[tuple[str, ...]]
    INVALID: ClassVar[tuple[str, ...]]

    def check(self, workflow: Workflow) -> Iterator[WorkflowViolation]:
        raise NotImplementedError

    @classmethod
    def summary(cls) -> str:
        """First line of the docstring, for SARIF rule metadata and ``--help`` listings."""
        return (cls.__doc__ or "").strip().splitlines()[0]


@dataclass(frozen=True)
class Script:
    """A shell script of a step: its ``run:``, or a command handed to an action."""

    step: Step
    scalar: Scalar
    statements: list[Statement]
    from_action: bool  # `with: run:`: the action picks the shell, not the workflow


def after_failure_only(step: Step) -> bool:
    """A step that runs only once the job has failed (``if: failure()``, ``!cancelled() &&
    failure()``): whatever it masks or switches off, the job is red already."""
    condition = (step.text("if") or "").replace(" ", "")
    return "failure()" in condition and "||" not in condition and "!failure()" not in condition


def scripts(workflow: Workflow) -> Iterator[Script]:
    """Every shell script in the workflow, each once (an aliased step is read once).

    Steps that run only after the job failed are left out: a diagnostic re-run there
    (``pytest --lf -vv || true``) cannot turn the job green.
    """
    seen: set[int] = set()
    for job in workflow.jobs():
        for step in job.steps():
            if after_failure_only(step):
                continue
            run = step.run()
            found = [] if run is None else [(run, False)]
            found += [(scalar, True) for scalar in step.action_inputs()]
            for scalar, from_action in found:
                if id(scalar.node) in seen:
                    continue
                if not from_action and (step.shell() or "").startswith("python"):
                    continue
                seen.add(id(scalar.node))
                yield Script(step, scalar, parse_script(scalar.value), from_action)


def step_scripts(step: Step) -> Iterator[list[Statement]]:
    """The parsed scripts of one step (its ``run:`` and action command inputs)."""
    run = step.run()
    if run is not None and not (step.shell() or "").startswith("python"):
        yield parse_script(run.value)
    for scalar in step.action_inputs():
        yield parse_script(scalar.value)


def commands(statements: list[Statement]) -> Iterator[Command]:
    for statement in statements:
        for pipeline in statement.pipelines:
            yield from pipeline.commands


def gate_commands(statements: list[Statement]) -> Iterator[Command]:
    """Commands that run a gate tool: ``echo --exit-zero`` is text, not an option."""
    for command in commands(statements):
        if gate_name(command.argv) is not None:
            yield command
