"""GW004 collection-errors-tolerated: pytest runs on although modules failed to import."""

from __future__ import annotations

from collections.abc import Iterator

from scanners.workflow.document import Workflow
from scanners.workflow.rules.gw005_gate_disabled import addopts
from scanners.workflow.rules.workflow_rule import (
    WorkflowRule,
    WorkflowViolation,
    gate_commands,
    scripts,
)


class CollectionErrorsTolerated(WorkflowRule):
    """``--continue-on-collection-errors``: tests run although some modules failed to import.

    Why: a module that cannot be imported contributes zero tests and the run can pass;
    the broken tests are silently gone.

    Example: ``pytest --continue-on-collection-errors``.

    Fix: drop the option; fix or delete the module that fails to import.
    """

    code = "GW004"
    name = "collection-errors-tolerated"
    INVALID = ("jobs:\n  t:\n    steps:\n      - run: pytest --continue-on-collection-errors\n",)
    VALID = ("jobs:\n  t:\n    steps:\n      - run: echo '--continue-on-collection-errors'\n",)

    def check(self, workflow: Workflow) -> Iterator[WorkflowViolation]:
        sources = [(s.scalar, s.statements) for s in scripts(workflow)]
        for scalar, statements in sources + list(addopts(workflow)):
            for command in gate_commands(statements):
                if "--continue-on-collection-errors" in command.argv[1:]:
                    line, column = scalar.position(command.start)
                    yield WorkflowViolation(
                        line, column, "--continue-on-collection-errors lets a broken module pass"
                    )
