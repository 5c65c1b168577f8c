"""GW006 pipe-without-pipefail: a gate command piped into another, its status lost."""

from __future__ import annotations

from collections.abc import Iterator

from scanners.workflow.commands import command_name, gate_name
from scanners.workflow.document import Workflow
from scanners.workflow.rules.workflow_rule import WorkflowRule, WorkflowViolation, scripts


def _shell_has_pipefail(shell: str | None) -> bool | None:
    """True/False for POSIX shells, None for shells whose pipes this rule does not judge."""
    if shell is None:
        return False  # GitHub's default: bash -e {0}, no pipefail
    words = shell.split()
    program = words[0].rsplit("/", 1)[-1] if words else ""
    if program == "bash" and len(words) == 1:
        return True  # `shell: bash` runs bash --noprofile --norc -eo pipefail {0}
    if program in ("bash", "sh", "dash", "zsh", "ksh"):
        return "pipefail" in shell
    return None


def _pipefail_change(argv: list[str]) -> bool | None:
    if argv[0] != "set":
        return None
    for i, arg in enumerate(argv[1:], start=1):
        if arg[:1] in "-+" and "o" in arg and i + 1 < len(argv) and argv[i + 1] == "pipefail":
            return arg.startswith("-")
    return None


def _pipestatus_read(text: str, end: int) -> bool:
    """``${PIPESTATUS[...]}`` on the rest of the pipe's line or the next command line.

    ``pytest | tee log`` then ``rc=${PIPESTATUS[0]}`` (or ``exit ${PIPESTATUS[0]}``)
    keeps pytest's status: the same reading GW001 gives ``status=$?`` after ``set +e``.
    """
    following = text[end:].split("\n")
    later = [line for line in following[1:] if line.strip() and not line.strip().startswith("#")]
    return any("PIPESTATUS" in line for line in [following[0], *later[:1]])


class PipeWithoutPipefail(WorkflowRule):
    """A gate command piped into another (``pytest | tee log``) in a shell without pipefail.

    Why: a pipeline's status is its last command's, so ``tee`` succeeds and the failing
    tests do not fail the step. A ``run:`` step without ``shell:`` runs ``bash -e {0}``,
    which has no pipefail; ``shell: bash`` (written out) adds ``-o pipefail``.

    Example: ``pytest | tee pytest.log`` in a step without ``shell:``.

    Fix: set ``defaults: run: shell: bash`` for the workflow (or ``shell: bash`` on the
    step), or ``set -o pipefail`` before the pipe. A pipe followed at once by
    ``rc=${PIPESTATUS[0]}`` (or ``exit ${PIPESTATUS[0]}``) keeps the status and is not
    flagged, nor is a run that only prints information (``pytest --markers | grep``,
    ``nox -l | jq``); ``pytest --collect-only -q | tail`` is a gate.
    """

    code = "GW006"
    name = "pipe-without-pipefail"
    INVALID = (
        "jobs:\n  t:\n    steps:\n      - run: pytest | tee log.txt\n",
        "jobs:\n  t:\n    steps:\n      - run: pytest --collect-only -q | tail -n 3\n",
    )
    VALID = (
        "jobs:\n  t:\n    steps:\n      - run: pytest | tee log.txt\n        shell: bash\n",
        "jobs:\n  t:\n    steps:\n      - run: |\n          pytest | tee log.txt\n"
        "          exit ${PIPESTATUS[0]}\n",
        "jobs:\n  t:\n    steps:\n      - run: pytest --markers | grep slow\n",
    )

    def check(self, workflow: Workflow) -> Iterator[WorkflowViolation]:
        for script in scripts(workflow):
            if script.from_action:
                continue  # the action picks the shell
            step, run, statements = script.step, script.scalar, script.statements
            shell = step.shell()
            if shell is None and step.job.on_windows():
                continue  # the default there is pwsh
            pipefail = _shell_has_pipefail(shell)
            if pipefail is None:
                continue
            for statement in sorted(statements, key=lambda s: s.start):
                for pipeline in statement.pipelines:
                    for command in pipeline.commands:
                        change = _pipefail_change(command.argv)
                        pipefail = pipefail if change is None else change
                    gates = [gate_name(c.argv) for c in pipeline.commands[:-1]]
                    gate = next((g for g in gates if g is not None), None)
                    if gate is not None and not pipefail:
                        if _pipestatus_read(run.value, pipeline.commands[-1].end):
                            continue  # `rc=${PIPESTATUS[0]}`: the gate's status is kept
                        line, column = run.position(pipeline.start)
                        last = command_name(pipeline.commands[-1].argv)
                        yield WorkflowViolation(
                            line,
                            column,
                            f"'{gate} | {last}' without pipefail: "
                            f"the step passes when {gate} fails",
                        )
