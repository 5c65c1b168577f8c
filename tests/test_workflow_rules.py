"""The workflow rules GW001-GW006: findings at the YAML's own lines, and near-misses."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_gridgate.config import ScanSettings
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
