"""The workflow rules GW001-GW006: patterns that make a CI gate report success it did not earn.

Each rule is a small class: ``code``, ``name``, a docstring saying what it flags, why that
is bad, an example and the fix, plus ``VALID`` and ``INVALID`` workflow snippets that the
tests run through the scanner. ``check`` yields ``(line, column, message)`` hits.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from yaml.nodes import ScalarNode

from scanners.workflow.document import Scalar, Step, Workflow, position
from scanners.workflow.script import Command, Statement, parse_script

Hit = tuple[int, int, str]

# Commands whose exit status is a verdict. Wrappers (``uv run``, ``python -m``...) are
# looked through by :func:`command_name`.
GATE_COMMANDS = frozenset(
    {
        "pytest", "py.test", "tox", "nox", "mypy", "ruff", "flake8", "pylint", "pyright",
        "bandit", "black", "isort", "coverage", "gridgate", "gridgate-scan", "pre-commit",
        "make", "unittest", "check-jsonschema", "zizmor", "scanners",
    }
)  # fmt: skip
_RUNNERS = {"uv": "run", "poetry": "run", "pipenv": "run", "pdm": "run", "hatch": "run"}
_PASSTHROUGH = frozenset({"env", "time", "nice", "xvfb-run", "sudo", "command", "exec"})


def command_name(argv: list[str]) -> str:
    """The program a command really runs: ``uv run python -m pytest -q`` -> ``pytest``."""
    args = list(argv)
    while args:
        head = args[0].rsplit("/", 1)[-1]
        if head in _PASSTHROUGH or "=" in head:
            args = [a for a in args[1:]]
            while args and (args[0].startswith("-") or "=" in args[0]):
                args = args[1:]
        elif head == "timeout":
            args = args[1:]
            while args and args[0].startswith("-"):  # -s KILL, -k 5, --preserve-status
                takes_value = args[0] in ("-s", "-k", "--signal", "--kill-after")
                args = args[2:] if takes_value else args[1:]
            args = args[1:]  # the duration
        elif head in _RUNNERS and len(args) > 1 and args[1] == _RUNNERS[head]:
            args = [a for a in args[2:]]
            while args and args[0].startswith("-"):
                args = args[1:]
        elif head.startswith("python") or head == "py":
            if "-m" not in args:
                return head
            args = args[args.index("-m") + 1 :]
        else:
            return head
    return ""


def _scripts(workflow: Workflow) -> Iterator[tuple[Step, Scalar, list[Statement]]]:
    seen: set[int] = set()
    for job in workflow.jobs():
        for step in job.steps():
            run = step.run()
            if run is None or id(run.node) in seen or (step.shell() or "").startswith("python"):
                continue
            seen.add(id(run.node))  # an aliased step is checked once
            yield step, run, parse_script(run.value)


def _commands(statements: list[Statement]) -> Iterator[Command]:
    for statement in statements:
        for pipeline in statement.pipelines:
            yield from pipeline.commands


def _gate_commands(statements: list[Statement]) -> Iterator[Command]:
    """Commands that run a gate tool: ``echo --exit-zero`` is text, not an option."""
    for command in _commands(statements):
        if command_name(command.argv) in GATE_COMMANDS:
            yield command


class WorkflowRule:
    code: ClassVar[str]
    name: ClassVar[str]
    VALID: ClassVar[tuple[str, ...]]
    INVALID: ClassVar[tuple[str, ...]]

    def check(self, workflow: Workflow) -> Iterator[Hit]:
        raise NotImplementedError

    @classmethod
    def summary(cls) -> str:
        """First line of the docstring, for SARIF rule metadata and ``--help`` listings."""
        return (cls.__doc__ or "").strip().splitlines()[0]


_MASKING = frozenset({"true", ":", "/bin/true", "/usr/bin/true", "echo", "printf"})


def _masks(argv: list[str]) -> bool:
    if argv[0] in _MASKING:
        return True
    return argv[0] == "exit" and len(argv) > 1 and argv[1] == "0"


def _fails(argv: list[str]) -> bool:
    """``false`` or ``exit N`` with N other than 0: a command that fails on purpose."""
    if argv[0] in ("false", "/bin/false"):
        return True
    return argv[0] == "exit" and len(argv) > 1 and argv[1] not in ("0", "")


def _sets_errexit_off(argv: list[str]) -> bool:
    if argv[0] != "set":
        return False
    for i, arg in enumerate(argv[1:], start=1):
        if arg.startswith("+") and "e" in arg and not arg.startswith("+o"):
            return True
        if arg == "+o" and i + 1 < len(argv) and argv[i + 1] == "errexit":
            return True
    return False


class MaskedExit(WorkflowRule):
    """A command's failure is swallowed by ``|| true``, ``|| :``, ``|| exit 0``, ``|| echo``.

    Why: the step turns green whatever the command did; a broken test run, type check or
    collection looks exactly like a passing one. ``set +e`` does the same for every
    command after it.

    Example: ``pytest --collect-only -q || echo "No tests found"``.

    Fix: let the command fail the step. To report and still fail, use
    ``cmd || { echo "cmd failed"; exit 1; }``; to run later steps anyway, give them
    ``if: ${{ !cancelled() }}``.
    """

    code = "GW001"
    name = "masked-exit"
    INVALID = (
        "jobs:\n  t:\n    steps:\n      - run: mypy . || true\n",
        "jobs:\n  t:\n    steps:\n      - run: |\n          set +e\n          pytest\n",
    )
    VALID = (
        "jobs:\n  t:\n    steps:\n      - run: echo 'a || true'  # || true\n",
        "jobs:\n  t:\n    steps:\n      - run: pytest || { echo failed; exit 1; }\n",
    )

    def check(self, workflow: Workflow) -> Iterator[Hit]:
        for _, run, statements in _scripts(workflow):
            for statement in statements:
                yield from self._statement(run, statement)

    def _statement(self, run: Scalar, statement: Statement) -> Iterator[Hit]:
        pipelines, operators = statement.pipelines, statement.operators
        for index, operator in enumerate(operators):
            right = pipelines[index + 1]
            if operator != "||" or len(right.commands) != 1:
                continue
            if right.commands[0].grouped or not _masks(right.commands[0].argv):
                continue  # `|| { echo failed; exit 1; }` is judged by what the group does
            # `cmd || echo failed && exit 1` still fails: the mask is undone.
            later = pipelines[index + 2 :]
            if any(
                o == "&&" and _fails(p.commands[-1].argv)
                for o, p in zip(operators[index + 1 :], later, strict=False)
            ):
                continue
            masked = " ".join(pipelines[index].commands[0].argv[:3])
            mask = " ".join(right.commands[0].argv[:2])
            line, column = run.position(pipelines[index].start)
            yield line, column, f"'{masked}' cannot fail the step: '|| {mask}' masks its exit"
        for pipeline in pipelines:
            for command in pipeline.commands:
                if _sets_errexit_off(command.argv):
                    line, column = run.position(command.start)
                    yield line, column, "'set +e' lets every later command fail unnoticed"


def _is_true(node: ScalarNode) -> bool:
    return str(node.value).strip().lower() == "true"


class ContinueOnError(WorkflowRule):
    """``continue-on-error: true`` on a job or a step.

    Why: the job or step fails and the run is still green; the failure shows only as an
    annotation nobody reads. An aggregate gate that checks ``needs.*.result`` sees
    ``success`` too.

    Example: ``- run: pytest`` with ``continue-on-error: true``.

    Fix: remove it. Steps that must run after a failure (reports, uploads) take
    ``if: ${{ !cancelled() }}`` instead. An expression such as
    ``${{ matrix.experimental }}`` is not flagged.
    """

    code = "GW002"
    name = "continue-on-error"
    INVALID = ("jobs:\n  t:\n    continue-on-error: true\n    steps:\n      - run: pytest\n",)
    VALID = ("jobs:\n  t:\n    steps:\n      - run: pytest\n        continue-on-error: false\n",)

    def check(self, workflow: Workflow) -> Iterator[Hit]:
        seen: set[int] = set()
        for job in workflow.jobs():
            for owner, what in [(job.items, f"job '{job.job_id}'")] + [
                (step.items, f"a step of job '{job.job_id}'") for step in job.steps()
            ]:
                key, value = owner.get("continue-on-error", (None, None))
                if key is None or not isinstance(value, ScalarNode) or not _is_true(value):
                    continue
                if id(key) in seen:
                    continue
                seen.add(id(key))
                line, column = position(key)
                yield line, column, f"continue-on-error: true on {what} hides its failure"


class NoTimeout(WorkflowRule):
    """A job without ``timeout-minutes``.

    Why: a hung test or a stuck install runs until GitHub's 6-hour limit, blocking the
    runner and the merge queue, and the gate answers hours late.

    Example: a ``test`` job with ``runs-on`` and ``steps`` but no ``timeout-minutes``.

    Fix: set ``timeout-minutes`` a little above the in-process budgets (gridgate's
    session timeout plus install time). Jobs that call a reusable workflow (``uses:``)
    cannot set it and are not flagged.
    """

    code = "GW003"
    name = "no-timeout"
    INVALID = ("jobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: pytest\n",)
    VALID = (
        "jobs:\n  test:\n    runs-on: ubuntu-latest\n    timeout-minutes: 20\n"
        "    steps:\n      - run: pytest\n",
        "jobs:\n  call:\n    uses: org/repo/.github/workflows/gate.yml@main\n",
    )

    def check(self, workflow: Workflow) -> Iterator[Hit]:
        for job in workflow.jobs():
            if job.calls_workflow or "timeout-minutes" in job.items:
                continue
            line, column = position(job.key)
            yield line, column, f"job '{job.job_id}' has no timeout-minutes; a hang runs 6 hours"


def _addopts(workflow: Workflow) -> Iterator[tuple[Scalar, list[Statement]]]:
    """``PYTEST_ADDOPTS`` values read as one command, so their options are checked too."""
    for name, node in workflow.env_nodes():
        if name == "PYTEST_ADDOPTS":
            scalar = Scalar(node, workflow.source)
            statements = parse_script("pytest " + scalar.value)
            for statement in statements:
                for pipeline in statement.pipelines:
                    pipeline.start = 0
                    for command in pipeline.commands:
                        command.start = 0
            yield scalar, statements


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

    def check(self, workflow: Workflow) -> Iterator[Hit]:
        sources = [(run, statements) for _, run, statements in _scripts(workflow)]
        for scalar, statements in sources + list(_addopts(workflow)):
            for command in _gate_commands(statements):
                if "--continue-on-collection-errors" in command.argv[1:]:
                    line, column = scalar.position(command.start)
                    yield line, column, "--continue-on-collection-errors lets a broken module pass"


def _disabling_options(argv: list[str]) -> Iterator[str]:
    pairs = list(zip(argv, [*argv[1:], ""], strict=True))
    for arg, following in pairs:
        option, eq, inline = arg.partition("=")
        value = inline if eq else following
        if arg in ("-p", "-pno:gridgate", "-pno:timeout") or arg.startswith("-pno:"):
            plugin = following if arg == "-p" else arg[2:]
            if plugin in ("no:gridgate", "no:timeout", "no:pytest_gridgate"):
                yield f"-p {plugin}"
        elif option == "--timeout" and value.strip() in ("0", "0.0"):
            yield "--timeout=0"
        elif option == "--gridgate-leaks" and value == "off":
            yield "--gridgate-leaks=off"
        elif arg == "--exit-zero":
            yield "--exit-zero"
        elif option in ("--cov-fail-under", "--fail-under") and value.strip() in ("0", "0.0"):
            yield f"{option}=0"


# Environment variables that switch a gate off: name -> values that do.
_DISABLING_ENV = {
    "PYTEST_TIMEOUT": ("0", "0.0"),
    "GRIDGATE_TIMEOUTS_DEFAULT": ("0", "0.0"),
    "GRIDGATE_LEAKS_ACTION": ("off",),
}


class GateDisabled(WorkflowRule):
    """An option that switches part of the gate off.

    Flags ``-p no:gridgate``, ``-p no:timeout``, ``--timeout=0`` (or ``--timeout 0``),
    ``--gridgate-leaks=off``, ``--exit-zero`` and ``--cov-fail-under=0`` (also
    ``coverage report --fail-under=0``), in ``run:`` scripts and in ``PYTEST_ADDOPTS``;
    and the same switches as environment variables (``PYTEST_TIMEOUT: 0``,
    ``GRIDGATE_TIMEOUTS_DEFAULT: 0``, ``GRIDGATE_LEAKS_ACTION: off``).

    Why: the workflow still shows a green "tests" check while leaks, hangs, lint errors or
    missing coverage no longer fail anything.

    Example: ``pytest -p no:gridgate``.

    Fix: remove the option; configure exceptions in ``[tool.gridgate]`` (per-marker
    timeouts, ``gridgate_allow_leaks``) where they are visible and reviewed.
    """

    code = "GW005"
    name = "gate-disabled"
    INVALID = ("jobs:\n  t:\n    steps:\n      - run: pytest -p no:gridgate\n",)
    VALID = ("jobs:\n  t:\n    steps:\n      - run: pytest --timeout=600\n",)

    def check(self, workflow: Workflow) -> Iterator[Hit]:
        sources = [(run, statements) for _, run, statements in _scripts(workflow)]
        for scalar, statements in sources + list(_addopts(workflow)):
            for command in _gate_commands(statements):
                for option in _disabling_options(command.argv):
                    line, column = scalar.position(command.start)
                    yield line, column, f"'{option}' disables part of the gate"
        for name, node in workflow.env_nodes():
            if str(node.value).strip().lower() in _DISABLING_ENV.get(name, ()):
                line, column = position(node)
                yield line, column, f"'{name}: {node.value}' disables part of the gate"


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


class PipeWithoutPipefail(WorkflowRule):
    """A gate command piped into another (``pytest | tee log``) in a shell without pipefail.

    Why: a pipeline's status is its last command's, so ``tee`` succeeds and the failing
    tests do not fail the step. A ``run:`` step without ``shell:`` runs ``bash -e {0}``,
    which has no pipefail; ``shell: bash`` (written out) adds ``-o pipefail``.

    Example: ``pytest | tee pytest.log`` in a step without ``shell:``.

    Fix: set ``defaults: run: shell: bash`` for the workflow (or ``shell: bash`` on the
    step), or ``set -o pipefail`` before the pipe.
    """

    code = "GW006"
    name = "pipe-without-pipefail"
    INVALID = ("jobs:\n  t:\n    steps:\n      - run: pytest | tee log.txt\n",)
    VALID = ("jobs:\n  t:\n    steps:\n      - run: pytest | tee log.txt\n        shell: bash\n",)

    def check(self, workflow: Workflow) -> Iterator[Hit]:
        for step, run, statements in _scripts(workflow):
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
                    gates = [command_name(c.argv) for c in pipeline.commands[:-1]]
                    gate = next((g for g in gates if g in GATE_COMMANDS), None)
                    if gate is not None and not pipefail:
                        line, column = run.position(pipeline.start)
                        last = command_name(pipeline.commands[-1].argv)
                        yield (
                            line,
                            column,
                            (
                                f"'{gate} | {last}' without pipefail: "
                                f"the step passes when {gate} fails"
                            ),
                        )


RULES: dict[str, type[WorkflowRule]] = {
    rule.code: rule
    for rule in (
        MaskedExit,
        ContinueOnError,
        NoTimeout,
        CollectionErrorsTolerated,
        GateDisabled,
        PipeWithoutPipefail,
    )
}
