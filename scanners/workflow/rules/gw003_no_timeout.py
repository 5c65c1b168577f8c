"""GW003 no-timeout: a job that can hang, with no ``timeout-minutes`` to end it."""

from __future__ import annotations

import re
from collections.abc import Iterator

from scanners.workflow.document import Step, Workflow, mapping, position, scalar_text
from scanners.workflow.rules.workflow_rule import (
    WorkflowRule,
    WorkflowViolation,
    commands,
    gate_commands,
    step_scripts,
)

# Actions that do bounded work: GitHub API and artifact/cache calls with their own
# timeouts and retries, or a quick computation over the event. A job made only of these
# (an aggregator, a paths filter, a notification, an artifact merge) cannot hang.
BOUNDED_ACTIONS = (
    "actions/checkout", "actions/setup-", "actions/cache", "actions/upload-artifact",
    "actions/download-artifact", "actions/labeler", "actions/stale",
    "actions/create-github-app-token", "actions/attest-build-provenance",
    "actions/configure-pages", "actions/upload-pages-artifact", "actions/deploy-pages",
    "actions/dependency-review-action", "re-actors/alls-green", "dorny/paths-filter",
    "tj-actions/changed-files", "slackapi/", "8398a7/action-slack", "rtcamp/action-slack-notify",
    "appleboy/telegram-action", "appleboy/discord-action", "peter-evans/create-or-update-comment",
    "peter-evans/find-comment", "marocchino/sticky-pull-request-comment",
    "thollander/actions-comment-pull-request", "mshick/add-pr-comment",
    "release-drafter/release-drafter", "github/codeql-action/upload-sarif",
    "github/codeql-action/init", "mheap/github-action-required-labels",
    "jaxxstorm/action-install-gh-release", "astral-sh/setup-uv", "hynek/setup-cached-uv",
    "step-security/harden-runner", "micnncim/action-label-syncer",
    "crazy-max/ghaction-github-labeler",
    "geekyeggo/delete-artifact", "pnpm/action-setup", "ruby/setup-ruby",
    "dtolnay/rust-toolchain", "taiki-e/install-action", "docker/setup-", "docker/login-action",
    "docker/metadata-action", "mergifyio/gha-mergify-ci", "actions/github-script",
    "octokit/request-action", "coverallsapp/github-action", "codecov/codecov-action",
    "pypa/gh-action-pypi-publish", "softprops/action-gh-release", "ncipollo/release-action",
    "sigstore/gh-action-sigstore-python", "peter-evans/create-pull-request",
    "peter-evans/repository-dispatch", "actions/attest", "actions/upload-release-asset",
    "andremiras/coveralls-python-action",
)  # fmt: skip
# Commands that finish on their own: printing, testing values, moving small files.
BOUNDED_COMMANDS = frozenset(
    {
        "echo", "printf", "cat", "exit", "true", "false", "test", "[", "[[", "]]", "]", "jq",
        "grep", "sed", "awk", "cut", "tr", "head", "tail", "sort", "uniq", "wc", "tee",
        "mkdir", "cp", "mv", "rm", "ls", "touch", "cd", "export", "set", "shift", "date",
        "basename", "dirname", "env", "printenv", "for", "case", "return", "local",
        "declare", "readonly", "unset", "shopt", "yq", "ln", "chmod", "sha256sum", "find",
        "du", "df", "uname", "whoami", "pwd", "which", "type", "read", "continue", "break",
        "source", ".", "sleep", "tar", "unzip", "zip", "gzip", "md5sum", "gh", "git", "if", "fi",
    }
)  # fmt: skip
# `while true`, `until curl ...`: loops that wait; `while read` ends with its input.
_LOOP = re.compile(r"(^|[;&|\s])(while|until)\s+(?!(IFS=\S*\s+)?read\b)")
# gh talks to the GitHub API (with its own timeouts); watching a run waits for it.
_GH_WAITS = re.compile(r"\bgh\s+(run\s+watch|pr\s+checks\b.*--watch)")
_FALSE = re.compile(r"^\s*(\$\{\{\s*)?false(\s*\}\})?\s*$")
# The job's own GitHub token, handed to an action (``env: GITHUB_TOKEN``, ``with: token``).
_JOB_TOKEN = re.compile(r"\$\{\{\s*(secrets\.GITHUB_TOKEN|github\.token)\s*\}\}")


def disabled(condition: str | None) -> bool:
    return condition is not None and bool(_FALSE.match(condition))


def step_can_hang(step: Step) -> bool:
    """A step that can run without bound: anything but bounded actions and trivial scripts."""
    if "timeout-minutes" in step.items or disabled(step.text("if")):
        return False
    uses = (step.text("uses") or "").lower().split("@")[0]
    if uses:
        return not uses.startswith(BOUNDED_ACTIONS) or bool(list(step.action_inputs()))
    run = step.run()
    if run is None:
        return False
    if (step.shell() or "").startswith("python"):
        return True
    if _LOOP.search(run.value) or _GH_WAITS.search(run.value):
        return True  # `while true; do sleep 5; done` waits for ever
    for statements in step_scripts(step):
        for command in commands(statements):
            if command.argv[0].rsplit("/", 1)[-1] not in BOUNDED_COMMANDS:
                return True
    return False


def _gets_job_token(step: Step) -> bool:
    for key in ("env", "with"):
        for name, (_, value) in mapping(step.items.get(key, (None, None))[1]).items():
            text = scalar_text(value)
            if text is not None and "token" in name.lower() and _JOB_TOKEN.search(text):
                return True
    return False


def api_only(steps: list[Step]) -> bool:
    """Whether ``steps`` only hand the job's token to actions, with nothing checked out.

    Such a job works on the event through the GitHub API (a pull request's title, target
    branch, labels or dependencies): without the repository's files it runs no project
    code, and API clients have timeouts of their own.
    """
    for step in steps:
        uses = (step.text("uses") or "").lower()
        if not uses or uses.startswith("actions/checkout") or step.run() is not None:
            return False
    unbounded = [step for step in steps if step_can_hang(step)]
    return all(_gets_job_token(step) for step in unbounded)


class NoTimeout(WorkflowRule):
    """A job that can hang without ``timeout-minutes``.

    A job is flagged when some step of it can run without bound: a script that runs more
    than printing and testing values (``echo``, ``printf``, ``jq``, ``test``, ``exit``...),
    or an action other than bounded ones (checkout, setup-*, cache and artifact actions,
    paths filters, ``re-actors/alls-green``, notifications, comments), unless that step
    carries its own ``timeout-minutes``. Nor is a job whose steps are only actions given the
    job's GitHub token, without the repository checked out (a pull request's title or
    target branch checked through the API: no project code runs). Jobs disabled with
    ``if: false``, jobs that call a reusable workflow (``uses:``, which cannot set it),
    aggregators, echo-only, paths-filter, notification and artifact-merge jobs are not
    flagged.

    Why: a hung test or a stuck install runs until GitHub's 6-hour limit, blocking the
    runner and the merge queue, and the gate answers hours late.

    Example: a ``test`` job with ``runs-on`` and ``steps`` but no ``timeout-minutes``.

    Fix: set ``timeout-minutes`` a little above the in-process budgets (gridgate's
    session timeout plus install time), on the job or on each step that can run long.
    """

    code = "GW003"
    name = "no-timeout"
    INVALID = ("jobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: pytest\n",)
    VALID = (
        "jobs:\n  test:\n    runs-on: ubuntu-latest\n    timeout-minutes: 20\n"
        "    steps:\n      - run: pytest\n",
        "jobs:\n  call:\n    uses: org/repo/.github/workflows/gate.yml@main\n",
        "jobs:\n  all-green:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: re-actors/alls-green@release/v1\n        with:\n"
        "          jobs: ${{ toJSON(needs) }}\n",
        "jobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n      - run: pytest\n        timeout-minutes: 20\n",
    )

    def check(self, workflow: Workflow) -> Iterator[WorkflowViolation]:
        for job in workflow.jobs():
            if job.calls_workflow or "timeout-minutes" in job.items or disabled(job.text("if")):
                continue
            steps = [s for s in job.steps() if step_can_hang(s)]
            if not steps or api_only(list(job.steps())):
                continue
            # Name the step most likely to hang: a gate command, then any script.
            hanging = next(
                (s for s in steps if any(next(gate_commands(c), None) for c in step_scripts(s))),
                next((s for s in steps if s.run() is not None), steps[0]),
            )
            line, column = position(job.key)
            step_line, _ = position(hanging.node)
            what = hanging.text("name") or hanging.text("uses") or "a run step"
            yield WorkflowViolation(
                line,
                column,
                f"job '{job.job_id}' has no timeout-minutes and step '{what}' (line "
                f"{step_line}) can hang: a hang runs 6 hours",
            )
