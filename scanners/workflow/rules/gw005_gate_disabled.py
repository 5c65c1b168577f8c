"""GW005 gate-disabled: an option or a variable that switches part of the gate off."""

from __future__ import annotations

from collections.abc import Iterator

from yaml.nodes import Node, ScalarNode

from scanners.workflow.commands import runs_tests
from scanners.workflow.document import Scalar, Step, Workflow, mapping, position
from scanners.workflow.rules.workflow_rule import (
    WorkflowRule,
    WorkflowViolation,
    commands,
    gate_commands,
    scripts,
    step_scripts,
)
from scanners.workflow.script import Command, Statement, Word, parse_script

AUTOLOAD = "PYTEST_DISABLE_PLUGIN_AUTOLOAD"
# `-p NAME` values that load gridgate when plugin autoloading is off.
GRIDGATE_PLUGINS = frozenset({"gridgate", "pytest_gridgate.plugin"})
_OFF = frozenset({"0", "0.0", "0.00"})


def addopts(workflow: Workflow) -> Iterator[tuple[Scalar, list[Statement]]]:
    """``PYTEST_ADDOPTS`` values read as one command, so their options are checked too."""
    for _, name, node in env_entries(workflow):
        if name == "PYTEST_ADDOPTS":
            scalar = Scalar(node, workflow.source)
            statements = parse_script("pytest " + scalar.value)
            for statement in statements:
                for pipeline in statement.pipelines:
                    pipeline.start = 0
                    for command in pipeline.commands:
                        command.start = 0
            yield scalar, statements


def _env(owner: Node | None) -> dict[str, ScalarNode]:
    entries = mapping(mapping(owner).get("env", (None, None))[1]).items()
    return {name: value for name, (_, value) in entries if isinstance(value, ScalarNode)}


def env_entries(workflow: Workflow) -> Iterator[tuple[list[Step], str, ScalarNode]]:
    """Every ``env:`` entry of the workflow, its jobs and their steps, with the steps it
    applies to."""
    jobs = list(workflow.jobs())
    seen: set[int] = set()
    owners: list[tuple[Node | None, list[Step]]] = [
        (workflow.root, [s for job in jobs for s in job.steps()])
    ]
    for job in jobs:
        owners.append((job.node, list(job.steps())))
        owners.extend((step.node, [step]) for step in job.steps())
    for owner, steps in owners:
        for name, value in _env(owner).items():
            if id(value) not in seen:  # an aliased env is reported once
                seen.add(id(value))
                yield steps, name, value


def _step_env(step: Step) -> dict[str, str]:
    """The environment a step's commands see from ``env:`` (workflow, job, step)."""
    env: dict[str, str] = {}
    for owner in (step.job.workflow.root, step.job.node, step.node):
        env.update({name: str(value.value) for name, value in _env(owner).items()})
    return env


def weakening(name: str, value: str) -> str | None:
    """Why setting ``name`` to ``value`` weakens a gate, or None when it does not."""
    text = value.strip().strip("'\"").strip().lower()
    if "${{" in value or name == AUTOLOAD:
        return None
    if name == "PYTEST_TIMEOUT" and text in _OFF:
        return "turns the per-test timeout off"
    if name == "GRIDGATE_COLLECTION_MIN_TESTS" and text in _OFF:
        return "lets a run that collected no test pass"
    if name.startswith("GRIDGATE_TIMEOUTS_") and name != "GRIDGATE_TIMEOUTS_KILL_AFTER":
        return "turns that timeout off" if text in _OFF else None
    if name.startswith("GRIDGATE_") and name.endswith("_ACTION") and text in ("off", "warn"):
        return "stops that gate failing the run"
    if name == "GRIDGATE_LEAKS_CHECKS" and not text.replace(",", "").strip():
        return "runs no leak check"
    if name == "GRIDGATE_SCAN_IGNORE" and text:
        return "ignores scanner rules outside the reviewed configuration"
    return None


def loads_gridgate(argv: list[str], env: dict[str, str]) -> bool:
    """``-p gridgate`` (or ``-p pytest_gridgate.plugin``) on the command or in the env."""
    words = list(argv) + env.get("PYTEST_ADDOPTS", "").split()
    for arg, following in zip(words, [*words[1:], ""], strict=True):
        if arg == "-p" and following in GRIDGATE_PLUGINS:
            return True
        if arg.startswith("-p") and arg[2:] in GRIDGATE_PLUGINS:
            return True
    plugins = env.get("PYTEST_PLUGINS", "").replace(" ", "").split(",")
    return "pytest_gridgate.plugin" in plugins


def _disabling_options(argv: list[str]) -> Iterator[str]:
    pairs = list(zip(argv, [*argv[1:], ""], strict=True))
    for arg, following in pairs:
        option, eq, inline = arg.partition("=")
        value = inline if eq else following
        if arg == "-p" or arg.startswith("-pno:"):
            plugin = following if arg == "-p" else arg[2:]
            if plugin in ("no:gridgate", "no:timeout", "no:pytest_gridgate"):
                yield f"-p {plugin}"
        elif option == "--timeout" and value.strip() in _OFF:
            yield "--timeout=0"
        elif option == "--gridgate-leaks" and value == "off":
            yield "--gridgate-leaks=off"
        elif arg == "--exit-zero":
            yield "--exit-zero"
        elif option in ("--cov-fail-under", "--fail-under") and value.strip() in _OFF:
            yield f"{option}=0"
        elif arg == "--disable-plugin-autoload" and not loads_gridgate(argv, {}):
            yield "--disable-plugin-autoload (without -p gridgate)"


def _describe(argv: list[str]) -> str:
    """The command up to pytest (``coverage run -m pytest``), or its first words."""
    end = next((i for i, a in enumerate(argv) if a.rsplit("/", 1)[-1] == "pytest"), 2)
    return " ".join(argv[: min(end + 1, 6)])


def _assignments(command: Command) -> Iterator[tuple[Word, str, str]]:
    """``NAME=value`` set by a command: ``export NAME=v``, ``NAME=v cmd``, and
    ``echo "NAME=v" >> "$GITHUB_ENV"`` (which sets it for the job's later steps)."""
    words = list(command.assignments)
    to_github_env = command.argv[0] in ("echo", "printf") and any(
        "GITHUB_ENV" in target.text for target in command.redirects
    )
    if command.argv[0] == "export" or to_github_env:
        words += command.words[1:]
    for word in words:
        name, eq, value = word.text.partition("=")
        if eq and name.isidentifier():
            yield word, name, value


class GateDisabled(WorkflowRule):
    """An option or a variable that switches part of the gate off.

    Flags ``-p no:gridgate``, ``-p no:timeout``, ``--timeout=0`` (or ``--timeout 0``),
    ``--gridgate-leaks=off``, ``--exit-zero`` and ``--cov-fail-under=0`` (also
    ``coverage report --fail-under=0``), in ``run:`` scripts, in commands handed to actions
    and in ``PYTEST_ADDOPTS``. And variables, in ``env:`` at workflow, job and step level
    and in scripts (``export NAME=...``, ``NAME=... pytest``, ``echo NAME=... >>
    "$GITHUB_ENV"``): ``PYTEST_TIMEOUT: 0``, a ``GRIDGATE_*`` value that weakens a gate
    (``GRIDGATE_COLLECTION_MIN_TESTS: 0``, a ``GRIDGATE_TIMEOUTS_*`` of 0, any
    ``GRIDGATE_*_ACTION`` set to ``off`` or ``warn``, an empty ``GRIDGATE_LEAKS_CHECKS``,
    ``GRIDGATE_SCAN_IGNORE``), and ``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` (or pytest's
    ``--disable-plugin-autoload``), with which gridgate never loads, when a command it
    applies to runs the tests without ``-p gridgate`` (or ``-p pytest_gridgate.plugin``,
    also through ``PYTEST_ADDOPTS`` or ``PYTEST_PLUGINS``). Test runners that hide their
    pytest command line (``tox``, ``nox``, ``make test``) count as running the tests
    without it.

    Why: the workflow still shows a green "tests" check while leaks, hangs, lint errors or
    missing coverage no longer fail anything.

    Example: ``pytest -p no:gridgate``.

    Fix: remove the option or variable; configure exceptions in ``[tool.gridgate]``
    (per-marker timeouts, ``gridgate_allow_leaks``) where they are visible and reviewed.
    With ``PYTEST_DISABLE_PLUGIN_AUTOLOAD``, load gridgate explicitly:
    ``pytest -p gridgate``.
    """

    code = "GW005"
    name = "gate-disabled"
    INVALID = (
        "jobs:\n  t:\n    steps:\n      - run: pytest -p no:gridgate\n",
        "jobs:\n  t:\n    env:\n      PYTEST_DISABLE_PLUGIN_AUTOLOAD: 1\n    steps:\n"
        "      - run: pytest -p xdist\n",
        "jobs:\n  t:\n    steps:\n      - run: GRIDGATE_COLLECTION_MIN_TESTS=0 pytest\n",
    )
    VALID = (
        "jobs:\n  t:\n    steps:\n      - run: pytest --timeout=600\n",
        "jobs:\n  t:\n    env:\n      PYTEST_DISABLE_PLUGIN_AUTOLOAD: 1\n    steps:\n"
        "      - run: pytest -p gridgate -p xdist\n",
    )

    def check(self, workflow: Workflow) -> Iterator[WorkflowViolation]:
        sources = [(s.scalar, s.statements) for s in scripts(workflow)]
        for scalar, statements in sources + list(addopts(workflow)):
            for command in gate_commands(statements):
                for option in _disabling_options(command.argv):
                    line, column = scalar.position(command.start)
                    yield WorkflowViolation(line, column, f"'{option}' disables part of the gate")
        for steps, name, node in env_entries(workflow):
            line, column = position(node)
            reason = weakening(name, str(node.value))
            if reason is not None:
                yield WorkflowViolation(line, column, f"'{name}: {node.value}' {reason}")
            elif name == AUTOLOAD and str(node.value).strip():
                blind = self._runs_tests_without_gridgate(steps)
                if blind is not None:
                    yield WorkflowViolation(line, column, self._autoload_message(blind))
        for script in scripts(workflow):
            yield from self._script_variables(script.step, script.scalar, script.statements)

    @staticmethod
    def _autoload_message(command: str) -> str:
        return (
            f"{AUTOLOAD} keeps gridgate from loading for '{command}': "
            "add -p gridgate to the pytest command"
        )

    def _runs_tests_without_gridgate(
        self, steps: list[Step], after: int = -1, statements: list[Statement] | None = None
    ) -> str | None:
        """The first test command in ``steps`` that runs pytest without gridgate."""
        for step in steps:
            env = _step_env(step)
            found = [statements] if statements is not None else list(step_scripts(step))
            for parsed in found:
                for command in commands(parsed):
                    if command.start <= after:
                        continue
                    if runs_tests(command.argv) and not loads_gridgate(command.argv, env):
                        return _describe(command.argv)
        return None

    def _script_variables(
        self, step: Step, scalar: Scalar, statements: list[Statement]
    ) -> Iterator[WorkflowViolation]:
        for command in commands(statements):
            for word, name, value in _assignments(command):
                line, column = scalar.position(word.start)
                reason = weakening(name, value)
                if reason is not None:
                    yield WorkflowViolation(line, column, f"'{name}={value}' {reason}")
                    continue
                if name != AUTOLOAD or not value:
                    continue
                if word in command.assignments:  # `NAME=1 pytest`: this command only
                    env = _step_env(step)
                    if runs_tests(command.argv) and not loads_gridgate(command.argv, env):
                        yield WorkflowViolation(
                            line, column, self._autoload_message(_describe(command.argv))
                        )
                    continue
                # `export NAME=1`: the rest of the script; `>> $GITHUB_ENV`: later steps too.
                blind = self._runs_tests_without_gridgate([step], command.start, statements)
                if blind is None and command.argv[0] != "export":
                    steps = list(step.job.steps())
                    later = steps[steps.index(step) + 1 :] if step in steps else []
                    blind = self._runs_tests_without_gridgate(later)
                if blind is not None:
                    yield WorkflowViolation(line, column, self._autoload_message(blind))
