"""GW002 continue-on-error: a failing gate step or job that still leaves the run green."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from yaml.nodes import ScalarNode

from scanners.workflow.document import Job, Step, Workflow, mapping, position, scalar_text
from scanners.workflow.expressions import UNKNOWN, evaluate, matrix_entries, truthy
from scanners.workflow.rules.workflow_rule import (
    WorkflowRule,
    WorkflowViolation,
    commands,
    gate_commands,
    step_scripts,
)

# Actions whose failure is a verdict (a linter, a type checker, a build, a gate aggregator).
GATE_ACTIONS = (
    "pre-commit/action", "pre-commit-ci/lite-action", "astral-sh/ruff-action",
    "chartboost/ruff-action", "jakebailey/pyright-action", "psf/black", "isort/isort-action",
    "py-actions/flake8", "tsuyoshicho/action-mypy", "pypa/cibuildwheel",
    "pyo3/maturin-action", "hynek/build-and-inspect-python-package", "re-actors/alls-green",
    "pypa/gh-action-pip-audit", "zizmorcore/zizmor-action", "codespell-project/actions-codespell",
    "rhysd/actionlint", "ludeeus/action-shellcheck", "crate-ci/typos",
)  # fmt: skip
# A matrix value that names a pre-release or moving target: its failures are expected.
_DEV = re.compile(
    r"(?i)(-dev\b|\bdev\b|\.dev\d*|alpha|beta|\d(a|b|rc)\d|\brc\d*\b|nightly|"
    r"pre-?release|-pre\b|(\b|dj)(main|master)\b|\bhead\b|upstream|experimental)"
)


def step_runs_gate(step: Step) -> bool:
    uses = (step.text("uses") or "").lower().split("@")[0]
    if uses.startswith(GATE_ACTIONS):
        return True
    return any(next(gate_commands(s), None) is not None for s in step_scripts(step))


def _reraised(step: Step, later: list[Step]) -> bool:
    """A later step looks at this step's outcome and fails on purpose when it failed."""
    step_id = step.text("id")
    if not step_id:
        return False
    pattern = re.compile(rf"steps\.{re.escape(step_id)}\.(outcome|conclusion)")
    for other in later:
        if not pattern.search(other.text("if") or ""):
            continue
        script = mapping(other.items.get("with", (None, None))[1]).get("script", (None, None))
        if "setFailed" in (scalar_text(script[1]) or ""):
            return True
        for statements in step_scripts(other):
            for command in commands(statements):
                argv = command.argv
                if argv[0] in ("false", "/bin/false") or (
                    argv[0] == "exit" and len(argv) > 1 and argv[1] != "0"
                ):
                    return True
    return False


def _entry_name(entry: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in entry.items() if not isinstance(v, dict | list))


def _is_dev(entry: dict[str, Any]) -> bool:
    if entry.get("experimental") is True:
        return True
    return any(isinstance(v, str | float) and _DEV.search(str(v)) for v in entry.values())


class ContinueOnError(WorkflowRule):
    """``continue-on-error`` that is true on a job or a step that runs a gate.

    A step runs a gate when its ``run:`` (or a command it hands to an action) runs a gate
    command (tests, linters, type checkers, the scanner, coverage thresholds, builds: the
    same commands GW001 looks at) or when it uses a linting, building or aggregating
    action (``pre-commit/action``, ``astral-sh/ruff-action``, ``pypa/cibuildwheel``,
    ``re-actors/alls-green``...); a job runs a gate when one of its steps does. Uploads,
    caches, notifications and artifact steps are not flagged. Nor is a step whose outcome a
    later step re-raises (``if: steps.<id>.outcome == 'failure'`` then ``exit 1``).

    An expression over the matrix (``${{ matrix.experimental }}``,
    ``${{ matrix.xfail && true || false }}``, ``${{ contains(matrix.python, 'dev') }}``)
    is evaluated for every matrix entry, and the entries where it is true are named. When
    all of them are pre-release or experimental entries (``3.14-dev``, ``nightly``,
    ``experimental: true``) the finding is a warning; otherwise an error. Expressions that
    depend on anything but the matrix are not flagged.

    Why: the job or step fails and the run is still green; the failure shows only as an
    annotation nobody reads. An aggregate gate that checks ``needs.*.result`` sees
    ``success`` too.

    Example: ``- run: pytest`` with ``continue-on-error: true``.

    Fix: remove it. Steps that must run after a failure (reports, uploads) take
    ``if: ${{ !cancelled() }}`` instead; keep ``continue-on-error`` for pre-release
    entries of the matrix only.
    """

    code = "GW002"
    name = "continue-on-error"
    INVALID = (
        "jobs:\n  t:\n    continue-on-error: true\n    steps:\n      - run: pytest\n",
        "jobs:\n  t:\n    strategy:\n      matrix:\n        python: ['3.12', '3.13']\n"
        "        xfail: [false]\n        include:\n          - {python: '3.13', xfail: true}\n"
        "    continue-on-error: ${{ matrix.xfail && true || false }}\n"
        "    steps:\n      - run: pytest\n",
    )
    VALID = (
        "jobs:\n  t:\n    steps:\n      - run: pytest\n        continue-on-error: false\n",
        "jobs:\n  t:\n    steps:\n      - uses: codecov/codecov-action@v5\n"
        "        continue-on-error: true\n",
        "jobs:\n  t:\n    steps:\n      - id: tests\n        run: pytest\n"
        "        continue-on-error: true\n      - run: exit 1\n"
        "        if: steps.tests.outcome == 'failure'\n",
    )

    def check(self, workflow: Workflow) -> Iterator[WorkflowViolation]:
        seen: set[int] = set()
        for job in workflow.jobs():
            steps = list(job.steps())
            owners: list[tuple[dict[str, Any], str, bool]] = [
                (job.items, f"job '{job.job_id}'", any(step_runs_gate(s) for s in steps))
            ]
            for index, step in enumerate(steps):
                runs_gate = step_runs_gate(step) and not _reraised(step, steps[index + 1 :])
                what = f"step '{step.text('name') or step.text('uses') or index + 1}'"
                owners.append((step.items, f"{what} of job '{job.job_id}'", runs_gate))
            for items, what, runs_gate in owners:
                key, value = items.get("continue-on-error", (None, None))
                if key is None or not isinstance(value, ScalarNode) or id(key) in seen:
                    continue
                seen.add(id(key))
                if runs_gate:
                    yield from self._judge(job, key, str(value.value), what)

    def _judge(
        self, job: Job, key: ScalarNode, text: str, what: str
    ) -> Iterator[WorkflowViolation]:
        line, column = position(key)
        if "${{" not in text:
            if text.strip().lower() == "true":
                yield WorkflowViolation(
                    line, column, f"continue-on-error: true on {what} hides its failure"
                )
            return
        strategy = mapping(job.items.get("strategy", (None, None))[1])
        entries = matrix_entries(strategy.get("matrix", (None, None))[1]) or [{}]
        values = [evaluate(text, entry) for entry in entries]
        if any(v is UNKNOWN for v in values):
            return
        if entries == [{}]:
            if truthy(values[0]):
                yield WorkflowViolation(
                    line, column, f"continue-on-error is true on {what}: hides its failure"
                )
            return
        true = [entry for entry, v in zip(entries, values, strict=True) if truthy(v)]
        if not true:
            return
        stable = [entry for entry in true if not _is_dev(entry)]
        shown = stable or true
        names = "; ".join(_entry_name(e) or "(the only entry)" for e in shown[:6])
        more = f" and {len(shown) - 6} more" if len(shown) > 6 else ""
        if stable:
            message = (
                f"continue-on-error is true on {what} for {len(true)} of {len(entries)} "
                f"matrix entries, {len(stable)} of them not pre-release ({names}{more}): "
                "their failures are hidden"
            )
            yield WorkflowViolation(line, column, message)
        else:
            message = (
                f"continue-on-error is true on {what} for {len(true)} pre-release or "
                f"experimental matrix entries ({names}{more}): their failures are hidden"
            )
            yield WorkflowViolation(line, column, message, "warning")
