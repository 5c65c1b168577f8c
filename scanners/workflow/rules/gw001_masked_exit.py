"""GW001 masked-exit: a gate command whose failure ``|| true`` or ``set +e`` swallows."""

from __future__ import annotations

import re
from collections.abc import Iterator

from scanners.workflow.commands import gate_name
from scanners.workflow.document import Workflow
from scanners.workflow.rules.workflow_rule import Script, WorkflowRule, WorkflowViolation, scripts
from scanners.workflow.script import Command, Statement

_MASKING = frozenset({"true", ":", "/bin/true", "/usr/bin/true", "echo", "printf"})


# `$(exit 0)` as a command: it expands to nothing and its status is the substitution's.
_EXIT_SUBSTITUTION = re.compile(r"\$\(\s*exit\s+(\S+?)\s*\)")


def _status_argv(argv: list[str]) -> list[str]:
    """``argv``, with a lone ``$(exit N)`` read as ``exit N``."""
    match = _EXIT_SUBSTITUTION.fullmatch(argv[0]) if len(argv) == 1 else None
    return ["exit", match.group(1)] if match else argv


def _masks(argv: list[str]) -> bool:
    argv = _status_argv(argv)
    if argv[0] in _MASKING:
        return True
    return argv[0] == "exit" and len(argv) > 1 and argv[1] == "0"


def _fails(argv: list[str]) -> bool:
    """``false`` or ``exit N`` with N other than 0: a command that fails on purpose."""
    argv = _status_argv(argv)
    if argv[0] in ("false", "/bin/false"):
        return True
    return argv[0] == "exit" and len(argv) > 1 and argv[1] not in ("0", "")


def _group_masks(script: Script, opener: Command) -> bool:
    """Whether a ``{ ...; }`` group or ``( ... )`` subshell right of ``||`` ends in
    success whatever happened: its last command masks and none fails on purpose.

    ``|| (echo "no AVX512" && $(exit 0))`` masks; ``|| { echo failed; exit 1; }`` and
    ``|| (echo retrying; pytest --lf)`` do not.
    """
    if opener.group_end < 0:
        return False
    inside = sorted(
        (
            command
            for statement in script.statements
            if not statement.nested
            for pipeline in statement.pipelines
            for command in pipeline.commands
            if opener.start <= command.start < opener.group_end
        ),
        key=lambda command: command.start,
    )
    if not inside or any(_fails(command.argv) for command in inside):
        return False
    return _masks(inside[-1].argv)


def _errexit_change(argv: list[str]) -> bool | None:
    """False for ``set +e`` (or ``+o errexit``), True for ``set -e``, None otherwise."""
    if argv[0] != "set":
        return None
    change = None
    for i, arg in enumerate(argv[1:], start=1):
        if arg[:1] in "-+" and not arg.startswith(("-o", "+o")) and "e" in arg[1:]:
            change = arg.startswith("-")
        elif arg in ("-o", "+o") and i + 1 < len(argv) and argv[i + 1] == "errexit":
            change = arg == "-o"
    return change


def _describe(command: Command) -> str:
    return " ".join(command.argv[:3])


class MaskedExit(WorkflowRule):
    """A gate command's failure is swallowed by ``|| true``, ``|| :``, ``|| exit 0``, ``|| echo``.

    A group or subshell after ``||`` masks when it ends so (``|| (echo skipped && $(exit
    0))``, ``|| { echo "::warning::failed"; }``) and fails nowhere (``exit 1``, ``false``).

    Only commands that run a gate count: tests (pytest, tox, nox, ``make test``...),
    linters and type checkers (ruff, mypy, flake8, pre-commit...), the scanner, coverage
    thresholds and builds. ``pip install x || echo "x not available"``, ``dpkg ... ||
    true`` or ``grep ... || true`` weaken no gate and are not flagged, nor are runs that
    only print information (``pytest --fixtures``, ``--markers``, ``tox -l``); ``pytest
    --collect-only`` fails on a module that does not import, so it is a gate. After ``set +e``
    a gate command is flagged only when its status is then dropped: not when the next
    line reads ``$?`` (``status=$?``), when it is an ``if``/``while`` condition or is
    followed by ``||``, or when it is the script's last command (whose status is the
    step's).

    Why: the step turns green whatever the command did; a broken test run, type check or
    collection looks exactly like a passing one.

    Example: ``pytest --collect-only -q || echo "No tests found"``.

    Fix: let the command fail the step. To report and still fail, use
    ``cmd || { echo "cmd failed"; exit 1; }``; to run later steps anyway, give them
    ``if: ${{ !cancelled() }}``; after ``set +e``, keep the status (``status=$?``) and
    ``exit "$status"`` at the end.
    """

    code = "GW001"
    name = "masked-exit"
    INVALID = (
        "jobs:\n  t:\n    steps:\n      - run: mypy . || true\n",
        "jobs:\n  t:\n    steps:\n      - run: |\n          set +e\n          pytest\n"
        "          echo done\n",
        "jobs:\n  t:\n    steps:\n      - run: make check || (echo 'no AVX' && $(exit 0))\n",
    )
    VALID = (
        "jobs:\n  t:\n    steps:\n      - run: echo 'a || true'  # || true\n",
        "jobs:\n  t:\n    steps:\n      - run: pytest || { echo failed; exit 1; }\n",
        "jobs:\n  t:\n    steps:\n      - run: pytest || (echo failed && $(exit 1))\n",
        "jobs:\n  t:\n    steps:\n      - run: pip install uvloop || echo 'no uvloop'\n",
        "jobs:\n  t:\n    steps:\n      - run: pytest --fixtures tests || true\n",
        "jobs:\n  t:\n    steps:\n      - run: |\n          set +e\n          pytest\n"
        "          status=$?\n          echo done\n          exit $status\n",
    )

    def check(self, workflow: Workflow) -> Iterator[WorkflowViolation]:
        for script in scripts(workflow):
            for statement in script.statements:
                yield from self._masked(script, statement)
            yield from self._errexit_off(script)

    def _masked(self, script: Script, statement: Statement) -> Iterator[WorkflowViolation]:
        pipelines, operators = statement.pipelines, statement.operators
        for index, operator in enumerate(operators):
            right = pipelines[index + 1]
            if operator != "||" or len(right.commands) != 1:
                continue
            first = right.commands[0]
            if first.grouped:
                if not _group_masks(script, first):
                    continue  # `|| { echo failed; exit 1; }`: judged by what the group does
            elif not _masks(first.argv):
                continue
            # `cmd || echo failed && exit 1` still fails: the mask is undone.
            later = pipelines[index + 2 :]
            if any(
                o == "&&" and _fails(p.commands[-1].argv)
                for o, p in zip(operators[index + 1 :], later, strict=False)
            ):
                continue
            # `a && b || true` masks a and b alike: every pipeline left of the `||`.
            masked = [
                c
                for p in pipelines[: index + 1]
                for c in p.commands
                if gate_name(c.argv) is not None
            ]
            if not masked:
                continue
            gate = masked[0]
            mask = " ".join(first.argv[:2])
            if first.grouped:  # `|| (echo skipped ...`: show the group's opening bracket
                bracket = script.scalar.value[: first.start].rstrip()[-1:]
                mask = f"{bracket}{' ' if bracket == '{' else ''}{mask} ..."
            line, column = script.scalar.position(gate.start)
            yield WorkflowViolation(
                line,
                column,
                f"'{_describe(gate)}' cannot fail the step: '|| {mask}' masks its exit",
            )

    def _errexit_off(self, script: Script) -> Iterator[WorkflowViolation]:
        top = sorted((s for s in script.statements if not s.nested), key=lambda s: s.start)
        last = top[-1] if top else None
        off: Command | None = None  # the `set +e` in force
        for statement in top:
            for p_index, pipeline in enumerate(statement.pipelines):
                for c_index, command in enumerate(pipeline.commands):
                    change = _errexit_change(command.argv)
                    if change is not None:
                        off = None if change else command
                        continue
                    if off is None or gate_name(command.argv) is None:
                        continue
                    is_last = (
                        statement is last
                        and p_index == len(statement.pipelines) - 1
                        and c_index == len(pipeline.commands) - 1
                    )
                    if self._status_kept(script, statement, p_index, command, is_last):
                        continue
                    line, column = script.scalar.position(off.start)
                    gate_line, _ = script.scalar.position(command.start)
                    yield WorkflowViolation(
                        line,
                        column,
                        f"'set +e': the exit status of '{_describe(command)}' (line "
                        f"{gate_line}) is dropped, so its failure cannot fail the step",
                    )
                    off = None  # one finding per `set +e`

    @staticmethod
    def _status_kept(
        script: Script, statement: Statement, p_index: int, command: Command, is_last: bool
    ) -> bool:
        if command.condition or is_last:
            return True
        if p_index < len(statement.operators):
            return True  # `cmd || exit 1`; `cmd || true` is the mask check's
        # `status=$?` or `${PIPESTATUS[0]}` on the rest of the line or the next line.
        text = script.scalar.value
        end = statement.pipelines[-1].commands[-1].end
        following = text[end:].split("\n")
        later = [
            line for line in following[1:] if line.strip() and not line.strip().startswith("#")
        ]
        lines = [following[0], *later[:1]]
        return any("$?" in line or "PIPESTATUS" in line for line in lines)
