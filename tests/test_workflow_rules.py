"""The workflow rules GW001-GW006: findings at the YAML's own lines, and near-misses."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_gridgate.settings import ScanSettings
from scanners.finding import ParseFailure
from scanners.workflow import RULES, check_workflow

ROOT = Path(__file__).resolve().parent.parent


def findings(yaml_text: str, *, timeouts: bool = False) -> set[tuple[str, int]]:
    """(rule, line) of every finding; GW003 only when asked, most snippets omit timeouts."""
    source = textwrap.dedent(yaml_text).lstrip("\n").encode()
    found = check_workflow("w.yml", source, ScanSettings(), lambda code: True)
    return {(f.rule, f.line) for f in found if timeouts or f.rule != "GW003"}


@pytest.mark.parametrize(
    ("code", "snippet", "fires"),
    [(code, s, True) for code, rule in RULES.items() for s in rule.INVALID]
    + [(code, s, False) for code, rule in RULES.items() for s in rule.VALID],
)
def test_documented_examples(code: str, snippet: str, fires: bool) -> None:
    found = check_workflow("w.yml", snippet.encode(), ScanSettings(), lambda c: c == code)
    assert bool(found) is fires, found


def test_every_rule_is_documented() -> None:
    assert list(RULES) == [f"GW00{n}" for n in range(1, 7)]
    for rule in RULES.values():
        doc = rule.__doc__ or ""
        assert [part in doc for part in ("Why:", "Example:", "Fix:")] == [True] * 3, rule.code
        assert rule.summary()
        assert rule.name


def test_lying_ci_example_hits_every_rule_at_its_line() -> None:
    path = ROOT / "examples/.github/workflows/lying-ci.yml"
    found = check_workflow(str(path), path.read_bytes(), ScanSettings(), lambda c: True)
    assert {(f.rule, f.line) for f in found} == {
        ("GW003", 8),
        ("GW001", 14),
        ("GW005", 16),
        ("GW002", 21),
        ("GW001", 27),
        ("GW004", 31),
        ("GW005", 31),
        ("GW006", 31),
    }
    assert all(f.source for f in found)  # the baseline matches on the line's text


POSITIVE = [
    pytest.param(
        """
        jobs:
          t:
            steps:
              - run: |
                  echo start

                  pytest \\
                    -q || exit 0
                  ruff check . || :
        """,
        {("GW001", 7), ("GW001", 9)},
        id="block-scalar-lines-continuation-exit0-colon",
    ),
    pytest.param(
        """
        jobs:
          t:
            steps:
              - run: >
                  pip install .
                  && pytest
                  || true
        """,
        {("GW001", 6)},
        id="folded-scalar",
    ),
    pytest.param(
        """
        jobs:
          t:
            steps:
              - run: |
                  set -eu
                  set +e
                  pytest
                  echo done
        """,
        {("GW001", 6)},
        id="set+e",
    ),
    pytest.param(
        """
        jobs:
          t:
            steps:
              - run: pytest --timeout 0 && pytest --gridgate-leaks off
              - run: python -m pytest -pno:timeout --cov-fail-under=0
              - run: coverage report --fail-under 0
        """,
        {("GW005", 4), ("GW005", 5), ("GW005", 6)},
        id="gate-disabled-spellings",
    ),
    pytest.param(
        """
        env:
          PYTEST_ADDOPTS: -p no:gridgate --continue-on-collection-errors
        jobs:
          t:
            env:
              GRIDGATE_LEAKS_ACTION: "off"
            steps:
              - run: timeout -s KILL 10m uv run pytest --exit-zero
                env:
                  PYTEST_TIMEOUT: 0
                  GRIDGATE_TIMEOUTS_DEFAULT: "60"
        """,
        {("GW005", 2), ("GW004", 2), ("GW005", 6), ("GW005", 8), ("GW005", 10)},
        id="pytest-addopts",
    ),
    pytest.param(
        """
        x-steps: &steps
          - run: mypy . || true
            continue-on-error: true
        jobs:
          a:
            steps: *steps
          b:
            steps: *steps
        """,
        {("GW001", 2), ("GW002", 3)},
        id="anchors-reported-once-at-the-anchor",
    ),
    pytest.param(
        """
        x-job: &job
          runs-on: ubuntu-latest
          continue-on-error: true
        jobs:
          a:
            <<: *job
            steps:
              - run: uv run pytest | tee log
        """,
        {("GW002", 3), ("GW006", 8)},
        id="merge-key",
    ),
    pytest.param(
        """
        jobs:
          t:
            defaults:
              run:
                shell: bash -e {0}
            steps:
              - run: |
                  set -o pipefail
                  set +o pipefail
                  python -m pytest 2>&1 | tee log
        """,
        {("GW006", 10)},
        id="pipefail-switched-off",
    ),
    pytest.param(
        """
        jobs:
          t:
            steps:
              - run: "echo \\"a\\";
                  mypy . || true"
              - run: echo plain;
                  ruff check . || true
        """,
        {("GW001", 5), ("GW001", 7)},
        id="multi-line-flow-scalars",
    ),
    pytest.param(
        """
        jobs:
          t:
            steps:
              - run: "x=$(pytest || true)"
        """,
        {("GW001", 4)},
        id="command-substitution",
    ),
]


@pytest.mark.parametrize(("yaml_text", "expected"), POSITIVE)
def test_findings_at_exact_lines(yaml_text: str, expected: set[tuple[str, int]]) -> None:
    assert findings(yaml_text) == expected


NEAR_MISSES = [
    pytest.param(
        """
        jobs:
          t:
            steps:
              - run: |
                  echo "pytest || true"   # pytest || true
                  # mypy . || true
                  printf '%s\\n' 'a || true'
        """,
        id="quoted-and-commented",
    ),
    pytest.param(
        """
        jobs:
          t:
            continue-on-error: false
            steps:
              - run: pytest
                continue-on-error: ${{ matrix.experimental }}
        """,
        id="continue-on-error-false-or-expression",
    ),
    pytest.param(
        """
        jobs:
          t:
            steps:
              - run: |
                  set -euo pipefail
                  pytest | tee log
                  pytest || { echo "tests failed"; exit 1; }
                  pytest || exit 1
                  pytest || echo "failed" && exit 1
        """,
        id="set-e-pipefail-and-real-failures",
    ),
    pytest.param(
        """
        jobs:
          t:
            steps:
              - run: pytest | tee log
                shell: bash
        """,
        id="pipe-in-step-with-shell-bash",
    ),
    pytest.param(
        """
        defaults:
          run:
            shell: bash
        jobs:
          t:
            steps:
              - run: pytest | tee log
        """,
        id="pipe-with-workflow-default-bash",
    ),
    pytest.param(
        """
        jobs:
          t:
            steps:
              - run: |
                  cat <<EOF > script.sh
                  pytest || true
                  set +e
                  EOF
                  echo ${{ github.event.inputs.x || 'default' }}
                  echo --exit-zero -p no:gridgate | tee notes.txt
        """,
        id="heredoc-expression-and-echo",
    ),
    pytest.param(
        """
        jobs:
          t:
            runs-on: windows-latest
            steps:
              - run: pytest | Tee-Object log.txt
        """,
        id="windows-default-shell",
    ),
]


@pytest.mark.parametrize("yaml_text", NEAR_MISSES)
def test_near_misses_do_not_fire(yaml_text: str) -> None:
    assert findings(yaml_text) == set()


def test_timeouts_are_required_except_for_workflow_calls() -> None:
    found = findings(
        """
        jobs:
          build:
            runs-on: ubuntu-latest
            steps: [{run: pytest}]
          timed:
            runs-on: ubuntu-latest
            timeout-minutes: 10
          call:
            uses: org/repo/.github/workflows/x.yml@0123456789abcdef0123456789abcdef01234567
        """,
        timeouts=True,
    )
    assert found == {("GW003", 2)}


def test_selected_rules_only() -> None:
    source = b"jobs:\n  t:\n    steps:\n      - run: mypy . || true\n"
    found = check_workflow("w.yml", source, ScanSettings(), lambda code: code == "GW001")
    assert [(f.rule, f.line, f.column, f.path) for f in found] == [("GW001", 4, 14, "w.yml")]


@pytest.mark.parametrize(
    ("source", "line"),
    [(b"jobs:\n  t: [\n", 3), (b"jobs:\n\tt: 1\n", 2), (b"\xff\xfe", 1)],
)
def test_invalid_yaml_is_a_parse_failure(source: bytes, line: int) -> None:
    with pytest.raises(ParseFailure) as info:
        check_workflow("w.yml", source, ScanSettings(), lambda code: True)
    assert info.value.line == line


def test_self_referencing_merge_key_does_not_recurse() -> None:
    found = findings(
        "x: &x\n  <<: *x\njobs: &j\n  t:\n    steps: [{run: pytest}]\n    <<: *j\n", timeouts=True
    )
    assert found == {("GW003", 4)}


def found_with(yaml_text: str) -> list[tuple[str, int, str, str]]:
    """(rule, line, severity, message) of every finding but GW003, in order."""
    source = textwrap.dedent(yaml_text).lstrip("\n").encode()
    found = check_workflow("w.yml", source, ScanSettings(), lambda code: code != "GW003")
    return [(f.rule, f.line, f.severity, f.message) for f in found]


# Issue 13 item 4: switches that keep gridgate from loading or weaken a gate, as variables.
GATE_VARIABLES = [
    pytest.param(
        """
        env:
          PYTEST_DISABLE_PLUGIN_AUTOLOAD: "1"
        jobs:
          t:
            steps:
              - run: pytest -p xdist
        """,
        {("GW005", 2)},
        id="autoload-off-workflow-env",
    ),
    pytest.param(
        """
        jobs:
          t:
            env:
              PYTEST_DISABLE_PLUGIN_AUTOLOAD: 1
            steps:
              - run: uv run coverage run -m pytest
        """,
        {("GW005", 4)},
        id="autoload-off-job-env",
    ),
    pytest.param(
        """
        jobs:
          t:
            steps:
              - run: tox -e py
                env:
                  PYTEST_DISABLE_PLUGIN_AUTOLOAD: "true"
        """,
        {("GW005", 6)},
        id="autoload-off-step-env-tox-hides-its-command-line",
    ),
    pytest.param(
        """
        jobs:
          t:
            env:
              PYTEST_DISABLE_PLUGIN_AUTOLOAD: 1
            steps:
              - run: pytest -p gridgate -p xdist
              - run: python -m pytest -p pytest_gridgate.plugin
              - run: pytest
                env:
                  PYTEST_ADDOPTS: -p gridgate
              - run: mypy .
        """,
        set(),
        id="autoload-off-with-gridgate-loaded-explicitly",
    ),
    pytest.param(
        """
        jobs:
          t:
            env:
              GRIDGATE_COLLECTION_MIN_TESTS: "0"
              GRIDGATE_TIMEOUTS_SESSION: 0
              GRIDGATE_LEAKS_ACTION: warn
              GRIDGATE_LEAKS_CHECKS: ""
              GRIDGATE_TIMEOUTS_DEFAULT: "120"
              GRIDGATE_PROFILE: ci
            steps:
              - run: pytest
        """,
        {("GW005", 4), ("GW005", 5), ("GW005", 6), ("GW005", 7)},
        id="gridgate-variables-in-env",
    ),
    pytest.param(
        """
        jobs:
          t:
            steps:
              - run: |
                  export GRIDGATE_LEAKS_ACTION=off
                  GRIDGATE_COLLECTION_MIN_TESTS=0 pytest
                  PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 pytest -p xdist
                  PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 pytest -p gridgate
                  GRIDGATE_TIMEOUTS_DEFAULT=30 pytest
        """,
        {("GW005", 5), ("GW005", 6), ("GW005", 7)},
        id="variables-in-run-scripts",
    ),
    pytest.param(
        """
        jobs:
          t:
            steps:
              - run: |
                  export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
                  python -m pytest -q
              - run: echo "PYTEST_DISABLE_PLUGIN_AUTOLOAD=1" >> "$GITHUB_ENV"
              - run: pytest
              - run: |
                  export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
                  pytest -p gridgate
        """,
        {("GW005", 5), ("GW005", 7)},
        id="autoload-off-exported-and-through-github-env",
    ),
]


@pytest.mark.parametrize(("yaml_text", "expected"), GATE_VARIABLES)
def test_gate_disabling_variables(yaml_text: str, expected: set[tuple[str, int]]) -> None:
    assert findings(yaml_text) == expected


# Issue 13 items 5 and 19: only a masked gate command is a finding.
MASKS_THAT_GATE_NOTHING = [
    pytest.param('test -f x || echo "no x"', id="condition"),
    pytest.param(
        "pip install uvloop && python -c 'import uvloop' && echo ok || echo 'not available'",
        id="optional-install",
    ),
    pytest.param(
        """|
          for i in 1 2 3; do
            sudo dpkg --configure -a || true
            sudo apt-get install -y foo && break
            sleep 5
          done
          [ "$i" -lt 3 ] || exit 1""",
        id="dpkg-retry-loop",
    ),
    pytest.param(
        "|\n          changes=$(gh api repos/x/y/pulls/1/files | grep '^CHANGES/' || true)",
        id="grep-in-command-substitution",
    ),
    pytest.param(
        """|
          set +e
          pytest -q
          status=$?
          echo "pytest exited with $status"
          exit $status""",
        id="set+e-status-kept",
    ),
    pytest.param(
        """|
          set +e
          coverage run -m pytest; rc=$?
          if ! mypy .; then exit 1; fi
          ruff check . || exit 1
          pytest""",
        id="set+e-status-used-or-last",
    ),
    pytest.param("coverage combine || true", id="housekeeping-subcommand"),
]


@pytest.mark.parametrize("script", MASKS_THAT_GATE_NOTHING)
def test_masks_that_gate_nothing_are_not_flagged(script: str) -> None:
    yaml_text = "jobs:\n  t:\n    steps:\n      - run: " + script + "\n"
    assert [f for f in found_with(yaml_text) if f[0] == "GW001"] == []


@pytest.mark.parametrize(
    ("script", "line", "names"),
    [
        ("pip install -e . && pytest -q && echo ok || echo failed", 4, "pytest -q"),
        ("./ci/run_tests.sh || true", 4, "./ci/run_tests.sh"),
        ('"make test || :"', 4, "make test"),
        ("|\n          set +e\n          pytest\n          echo done", 5, "pytest"),
        (
            "|\n          set +e\n          python -Im mypy src | tee log\n          exit 0",
            5,
            "mypy",
        ),
    ],
)
def test_masked_gate_commands_are_flagged(script: str, line: int, names: str) -> None:
    yaml_text = "jobs:\n  t:\n    steps:\n      - run: " + script + "\n"
    masked = [f for f in found_with(yaml_text) if f[0] == "GW001"]
    assert [(rule, at) for rule, at, _, _ in masked] == [("GW001", line)]
    assert names in masked[0][3]  # the message names the gate, not the `echo`


# Issue 13 items 18 and 20: continue-on-error judged by what it hides.
def test_continue_on_error_on_steps_that_gate_nothing() -> None:
    assert (
        found_with(
            """
        jobs:
          upload:
            continue-on-error: true
            steps:
              - uses: actions/download-artifact@v4
              - uses: codecov/codecov-action@v5
          t:
            steps:
              - run: pytest
              - uses: codecov/codecov-action@v5
                continue-on-error: true
              - uses: actions/cache@v4
                continue-on-error: true
              - run: curl -X POST "$SLACK_HOOK" -d @msg.json
                continue-on-error: true
        """
        )
        == []
    )


def test_continue_on_error_on_gates() -> None:
    found = found_with(
        """
        jobs:
          lint:
            continue-on-error: true
            steps:
              - uses: pre-commit/action@v3.0.1
          t:
            steps:
              - run: python -Im pytest
                continue-on-error: true
              - run: coverage report --fail-under=90
                continue-on-error: ${{ true }}
        """
    )
    assert [(rule, line) for rule, line, _, _ in found] == [
        ("GW002", 3),
        ("GW002", 9),
        ("GW002", 11),
    ]


def test_continue_on_error_reraised_by_a_later_step_hides_nothing() -> None:
    found = found_with(
        """
        jobs:
          t:
            steps:
              - id: tests
                run: pytest
                continue-on-error: true
              - run: pytest --lf
                continue-on-error: true
              - run: cat report.txt
                if: always()
              - if: steps.tests.outcome == 'failure'
                run: |
                  echo "tests failed"
                  exit 1
        """
    )
    assert [(rule, line) for rule, line, _, _ in found] == [("GW002", 8)]


MATRIX_JOB = """
jobs:
  test:
    runs-on: ${{{{ matrix.os }}}}
    strategy:
      matrix:
        os: [ubuntu-latest, windows-latest, macos-latest]
        python: ["3.12", "3.13", "3.14-dev"]
        exclude:
          - {{os: macos-latest, python: "3.12"}}
        include:
          - {{python: "3.13", xfail: true}}
          - {{python: "3.14-dev", xfail: true}}
          - {{os: ubuntu-latest, python: pypy3.11, experimental: true}}
    continue-on-error: {expression}
    steps:
      - run: pytest
"""


def test_continue_on_error_over_the_matrix_names_the_entries() -> None:
    found = found_with(MATRIX_JOB.format(expression="${{ matrix.xfail && true || false }}"))
    assert len(found) == 1
    rule, line, severity, message = found[0]
    assert (rule, line, severity) == ("GW002", 14, "error")
    # 3.13 on three systems and 3.14-dev on three: 6 of the 9 entries (8 + the pypy one).
    assert "for 6 of 9 matrix entries, 3 of them not pre-release" in message
    for os_name in ("ubuntu-latest", "windows-latest", "macos-latest"):
        assert f"os={os_name}, python=3.13, xfail=True" in message
    assert "3.14-dev" not in message  # the stable entries are the ones named


def test_continue_on_error_on_pre_release_entries_only_is_a_warning() -> None:
    found = found_with(MATRIX_JOB.format(expression="${{ endsWith(matrix.python, '-dev') }}"))
    assert [(r, line, s) for r, line, s, _ in found] == [("GW002", 14, "warning")]
    assert "3 pre-release or experimental matrix entries" in found[0][3]
    experimental = found_with(MATRIX_JOB.format(expression="${{ matrix.experimental == true }}"))
    assert [(r, s) for r, _, s, _ in experimental] == [("GW002", "warning")]
    assert "python=pypy3.11" in experimental[0][3]


@pytest.mark.parametrize(
    "expression",
    [
        "${{ matrix.python == '3.11' }}",  # true for no entry
        "${{ github.event_name == 'schedule' }}",  # not known before the run
        "${{ matrix.xfail && github.ref == 'refs/heads/main' }}",
        "false",
    ],
)
def test_continue_on_error_expressions_that_hide_nothing_known(expression: str) -> None:
    assert found_with(MATRIX_JOB.format(expression=expression)) == []


# Issue 13 item 21: GW003 only where a step can hang.
def test_jobs_that_cannot_hang_need_no_timeout() -> None:
    found = findings(
        """
        jobs:
          all-green:
            if: always()
            needs: [test]
            runs-on: ubuntu-latest
            steps:
              - uses: re-actors/alls-green@release/v1
                with:
                  jobs: ${{ toJSON(needs) }}
          echo-only:
            runs-on: ubuntu-latest
            steps:
              - run: |
                  echo "result=${{ needs.test.result }}" >> "$GITHUB_OUTPUT"
                  [[ "${{ needs.test.result }}" == success ]] || exit 1
          changes:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
              - uses: dorny/paths-filter@v3
                with:
                  filters: "src: ['src/**']"
          notify:
            runs-on: ubuntu-latest
            steps:
              - uses: slackapi/slack-github-action@v2
          merge:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/upload-artifact/merge@v4
          disabled:
            if: false
            runs-on: ubuntu-latest
            steps:
              - run: pytest
          timed-steps:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
              - run: pip install -e .
                timeout-minutes: 5
              - run: pytest
                timeout-minutes: 30
              - run: echo done
          test:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
              - run: pip install -e .
                timeout-minutes: 5
              - run: pytest
          wait:
            runs-on: ubuntu-latest
            steps:
              - run: while true; do sleep 5; done
        """,
        timeouts=True,
    )
    assert found == {("GW003", 45), ("GW003", 52)}


# Issue 13 item 22: commands the scanner did not see.
def test_commands_handed_to_actions_are_scanned() -> None:
    found = found_with(
        """
        jobs:
          bench:
            steps:
              - uses: CodSpeedHQ/action@v3
                with:
                  run: pytest tests/bench --codspeed --timeout=0
              - uses: nick-fields/retry@v3
                with:
                  command: mypy . || true
              - uses: actions/github-script@v7
                with:
                  script: core.info("pytest --timeout=0 || true")
        """
    )
    assert [(rule, line) for rule, line, _, _ in found] == [("GW005", 6), ("GW001", 9)]


@pytest.mark.parametrize(
    ("script", "rule"),
    [
        ("python -Im pytest --timeout=0", "GW005"),
        ("python3 -X dev -W error -m pytest -p no:gridgate", "GW005"),
        ("python -Im pytest | tee log", "GW006"),
        ("git ls-files '*.py' | xargs -n 50 pytest | tee log", "GW006"),
        ("find tests -name 'test_*.py' | xargs pytest -q 2>&1 | tee pytest.log", "GW006"),
        ("sh ci/run_tests.sh | tee log", "GW006"),
        ("uv run --with pytest-cov pytest | tee log", "GW006"),
        ("uvx --with tox-uv tox -e py | tee log", "GW006"),
        ("pipx run --spec nox==2025.2.9 nox -s tests | tee log", "GW006"),
    ],
)
def test_wrapped_gate_commands_are_recognised(script: str, rule: str) -> None:
    yaml_text = "jobs:\n  t:\n    steps:\n      - run: " + script + "\n"
    assert [r for r, _, _, _ in found_with(yaml_text)] == [rule]


def test_scan_command_reports_gates_switched_off_and_matrix_entries(tmp_path: Path) -> None:
    """Through ``python -m scanners`` as users run it: JSON findings with their severities."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "ci.yml").write_text(
        textwrap.dedent(
            """
            on: push
            env:
              PYTEST_DISABLE_PLUGIN_AUTOLOAD: "1"
            jobs:
              test:
                runs-on: ubuntu-latest
                timeout-minutes: 30
                strategy:
                  matrix:
                    python: ["3.13", "3.15-dev"]
                continue-on-error: ${{ endsWith(matrix.python, '-dev') }}
                steps:
                  - run: |
                      export GRIDGATE_COLLECTION_MIN_TESTS=0
                      pip install -e . || echo "no install"
                      python -Im pytest -p xdist
              notify:
                runs-on: ubuntu-latest
                steps:
                  - run: echo "done"
            """
        ).lstrip(),
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "scanners", "--format", "json", "--no-cache", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    found = json.loads(result.stdout)["findings"]
    assert [(f["rule"], f["line"], f["severity"]) for f in found] == [
        ("GW005", 3, "error"),
        ("GW002", 11, "warning"),
        ("GW005", 14, "error"),
    ]
    assert "python=3.15-dev" in found[1]["message"]


def test_steps_after_a_failure_and_reports_without_a_threshold_gate_nothing() -> None:
    """Found in the corpus (pip-tools, aiofiles): neither can turn a red job green."""
    assert (
        found_with(
            """
        jobs:
          t:
            steps:
              - run: tox
              - name: Re-run the failing tests with maximum verbosity
                if: ${{ !cancelled() && failure() }}
                run: tox -- --continue-on-collection-errors --lf -vv || true
              - run: |
                  uv run coverage combine
                  uv run coverage report | sed 's/^/    /' >> "$GITHUB_STEP_SUMMARY"
                  coverage xml || true
        """
        )
        == []
    )
    flagged = found_with(
        """
        jobs:
          t:
            steps:
              - run: coverage report --fail-under=90 | tee report.txt
                if: ${{ always() || failure() }}
        """
    )
    assert [r for r, _, _, _ in flagged] == ["GW006"]


def test_a_matrix_too_large_to_expand_is_not_evaluated() -> None:
    values = ", ".join(str(n) for n in range(20))
    axes = "\n".join(f"        k{n}: [{values}]" for n in range(8))  # 20**8 entries
    yaml_text = (
        "jobs:\n  t:\n    strategy:\n      matrix:\n"
        + textwrap.indent(axes, "  ")
        + "\n    continue-on-error: ${{ matrix.k0 == 3 }}\n    steps:\n      - run: pytest\n"
    )
    assert found_with(yaml_text) == []


def test_a_workflow_that_does_not_parse_is_gw000_not_the_python_gg000(tmp_path: Path) -> None:
    """Issue 15: a broken workflow has the workflow family's own parse-error code, so that
    ``--ignore GW`` covers it and ``--ignore GG000`` (Python files) does not."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "ci.yml").write_text("jobs: [unclosed\n", encoding="utf-8")
    (tmp_path / "broken.py").write_text("def f(:\n", encoding="utf-8")

    def scan(*options: str) -> tuple[int, list[tuple[str, str, int]]]:
        result = subprocess.run(
            [sys.executable, "-m", "scanners", "--format", "json", "--no-cache", *options, "."],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        found = json.loads(result.stdout)["findings"]
        return result.returncode, [(f["rule"], f["path"], f["line"]) for f in found]

    code, found = scan()
    assert code == 1
    assert sorted(found) == [("GG000", "broken.py", 1), ("GW000", ".github/workflows/ci.yml", 2)]
    assert scan("--ignore", "GG000")[1] == [("GW000", ".github/workflows/ci.yml", 2)]
    assert scan("--ignore", "GW")[1] == [("GG000", "broken.py", 1)]


# Found in the workflow corpus (tests/data/workflow_corpus.csv): a `case` pattern list
# (`feat|fix|build|ci) ;;`) is not a pipeline, and listing a runner's sessions runs no gate.
@pytest.mark.parametrize(
    "script",
    [
        pytest.param(
            """|
          case "$type" in
            feat|fix|perf|docs|test|build|ci|revert) ;;
            (pytest|tox) echo "a runner" ;;
            *) type='' ;;
          esac""",
            id="case-patterns",
        ),
        pytest.param(
            """|
          echo >>$GITHUB_OUTPUT noxenvs=$(
            uvx nox --list-sessions --json | jq '[.[].session]'
          )""",
            id="nox-list-sessions",
        ),
        pytest.param("nox -l | grep tests", id="nox-l"),
        pytest.param("tox -l | sort", id="tox-l"),
        pytest.param("tox --listenvs-all | sort", id="tox-listenvs-all"),
        pytest.param("tox list | sort", id="tox-list-subcommand"),
    ],
)
def test_pipes_that_run_no_gate_are_not_flagged(script: str) -> None:
    yaml_text = "jobs:\n  t:\n    steps:\n      - run: " + script + "\n"
    assert [f for f in found_with(yaml_text) if f[0] in ("GW001", "GW006")] == []


def test_commands_in_a_case_branch_are_still_judged() -> None:
    yaml_text = """\
jobs:
  t:
    steps:
      - run: |
          case "$kind" in
            unit) pytest -q tests/unit | tee unit.log ;;
            lint|style)
              ruff check . || true
              ;;
          esac
          tox -e py | tee tox.log
"""
    found = [(rule, line) for rule, line, _, _ in found_with(yaml_text)]
    assert sorted(found) == [("GW001", 8), ("GW006", 6), ("GW006", 11)]


def test_a_job_of_api_actions_on_the_event_alone_needs_no_timeout() -> None:
    # From the corpus: a pull request's title, target branch or dependencies checked
    # through the GitHub API by an action the rule does not know, with the job's token
    # and without the repository checked out: no project code runs, nothing can hang.
    found = findings(
        """
        jobs:
          title:
            runs-on: ubuntu-latest
            steps:
              - uses: amannn/action-semantic-pull-request@v6
                env:
                  GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}
          target:
            runs-on: ubuntu-latest
            steps:
              - uses: Vankka/pr-target-branch-action@v3
                with:
                  github-token: ${{ github.token }}
                  target: main
          checked-out:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
              - uses: some/linter-action@v1
                env:
                  GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}
          no-token:
            runs-on: ubuntu-latest
            steps:
              - uses: some/builder-action@v1
          with-a-script:
            runs-on: ubuntu-latest
            steps:
              - uses: some/api-action@v1
                env:
                  GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}
              - run: ./make-release.sh
        """,
        timeouts=True,
    )
    assert found == {("GW003", 15), ("GW003", 22), ("GW003", 26)}


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        # The status read back from PIPESTATUS on the next line or the same line: kept.
        ("pytest | tee log\nexit ${PIPESTATUS[0]}\n", set()),
        ("pytest | tee log\n# keep pytest's status\nrc=${PIPESTATUS[0]}\nexit $rc\n", set()),
        ("pytest | tee log; rc=${PIPESTATUS[0]}\nexit $rc\n", set()),
        # Read too late (a later command has overwritten PIPESTATUS): still a finding.
        ("pytest | tee log\necho done\nexit ${PIPESTATUS[0]}\n", {("GW006", 5)}),
    ],
)
def test_pipe_whose_status_is_read_from_pipestatus(
    script: str, expected: set[tuple[str, int]]
) -> None:
    """``pytest | tee log`` then ``exit ${PIPESTATUS[0]}`` keeps pytest's status (GW006)."""
    body = textwrap.indent(script, " " * 10)
    assert findings("jobs:\n  t:\n    steps:\n      - run: |\n" + body) == expected


# Issue 13: pytest runs that only print information (fixtures, markers) gate nothing, so
# masking or piping their status hides no verdict; `--collect-only` fails on a module that
# does not import and stays a gate.
@pytest.mark.parametrize("option", ["--fixtures", "--funcargs", "--fixtures-per-test", "--markers"])
def test_informational_pytest_runs_gate_nothing(option: str) -> None:
    script = f"|\n          python -m pytest {option} tests | tee info.txt\n"
    script += f"          pytest -q {option} || true\n"
    script += f"          uv run py.test {option} -v | grep my_fixture\n"
    yaml_text = "jobs:\n  t:\n    steps:\n      - run: " + script
    assert [f for f in found_with(yaml_text) if f[0] in ("GW001", "GW006")] == []


def test_collect_only_stays_a_gate() -> None:
    script = "|\n          python -m pytest --collect-only -q | tail -n 3\n"
    script += "          pytest --co -q || echo 'No tests found'\n"
    yaml_text = "jobs:\n  t:\n    steps:\n      - run: " + script
    found = [(rule, line) for rule, line, _, _ in found_with(yaml_text)]
    assert sorted(found) == [("GW001", 6), ("GW006", 5)]


# Issue 13: xxHash's ci.yml runs `make check || (echo ... && $(exit 0))`; a group or
# subshell after `||` is judged by how it ends, and one before `||` by its last statement.
@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("make clean check || (echo 'no AVX512' && $(exit 0))", {("GW001", 4)}),
        ("pytest -q || { echo '::warning::tests failed'; }", {("GW001", 4)}),
        (
            "|\n          ruff check . || {\n            echo lint failed\n            true\n"
            "          }",
            {("GW001", 5)},
        ),
        ("(cd docs && make html) || true", {("GW001", 4)}),
        ('"{ echo start; tox -e py; } || echo failed"', {("GW001", 4)}),
        ("(cd docs && make html) && echo built", set()),
        ("pytest || { echo failed; exit 1; }", set()),
        ("pytest || (echo failed; exit 1)", set()),
        ("pytest || (echo failed && $(exit 1))", set()),
        ("pytest || (echo retrying; pytest --lf)", set()),
        ("|\n          pytest || (echo failed && false)\n          echo next", set()),
    ],
)
def test_groups_after_or_are_judged_by_how_they_end(
    script: str, expected: set[tuple[str, int]]
) -> None:
    yaml_text = "jobs:\n  t:\n    steps:\n      - run: " + script + "\n"
    found = {(rule, line) for rule, line, _, _ in found_with(yaml_text) if rule == "GW001"}
    assert found == expected


def test_a_subshell_after_or_is_read_as_its_right_side() -> None:
    from scanners.workflow.script import parse_script

    first, *_ = parse_script("make check || (echo skipped && $(exit 0))\necho next")
    assert first.operators == ["||", "&&"]
    opener = first.pipelines[1].commands[0]
    assert (opener.argv, opener.grouped) == (["echo", "skipped"], True)
    assert opener.group_end == len("make check || (echo skipped && $(exit 0)")
