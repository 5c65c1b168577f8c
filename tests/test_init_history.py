"""The reusable workflow's suite history: the gate job restores it (the branch's, else the
default branch's), records the merged run, draws the page and the step summary's trend
block, and keeps both. The steps' scripts are run by bash as the runner would."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_init_shards import BIN, _init, _step


def _gate_steps(repo: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load((repo / ".github/workflows/gridgate-reusable.yml").read_text())
    steps: list[dict[str, Any]] = data["jobs"]["gate"]["steps"]
    return steps


def test_gate_job_restores_records_draws_and_keeps_the_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    assert _init(repo, monkeypatch, "--shards", "2") == 0
    capsys.readouterr()
    steps = _gate_steps(repo)
    names = [s.get("name") for s in steps]
    order = [
        "Restore the suite history",
        "Merge the shards",
        "Record the run in the suite history",
        "Draw the suite history",
        "Keep the suite history",
        "Keep the history page",
        "Every needed job succeeded",
    ]
    assert [n for n in names if n in order] == order
    restore, save = steps[names.index(order[0])], steps[names.index(order[4])]
    assert restore["uses"].startswith("actions/cache/restore@")
    assert save["uses"].startswith("actions/cache/save@")
    assert restore["with"]["path"] == save["with"]["path"]
    assert ".gridgate/history.state.json" in restore["with"]["path"]
    fallbacks = restore["with"]["restore-keys"].splitlines()
    assert fallbacks == [
        "gridgate-history-${{ github.head_ref || github.ref_name }}-",
        "gridgate-history-${{ github.event.repository.default_branch }}-",
    ]
    assert save["with"]["key"].startswith(fallbacks[0])
    page = steps[names.index(order[5])]
    assert page["with"]["path"] == "reports/history.html"
    # Every step after the merge runs even when a gate failed before it.
    for name in order[2:]:
        assert "!cancelled()" in steps[names.index(name)]["if"], name


def test_history_steps_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    pytester: pytest.Pytester,
) -> None:
    """The record and draw steps' scripts on merged reports: the first runs pass and
    fill the step summary; a lost module fails the record step, and is drawn."""
    repo = tmp_path / "repo"
    assert _init(repo, monkeypatch, "--shards", "2", "--python", "3.12") == 0
    capsys.readouterr()
    workflow = repo / ".github/workflows/gridgate-reusable.yml"
    record = _step(workflow, "gate", "Record the run in the suite history")
    draw = _step(workflow, "gate", "Draw the suite history")
    monkeypatch.chdir(pytester.path)
    pytester.makepyfile(
        test_one="def test_a(): pass\ndef test_b(): pass\n",
        test_two="def test_c(): pass\ndef test_d(): pass\ndef test_e(): pass\n",
    )
    summary = pytester.path / "summary.md"
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "MAIN_PYTHON": "3.12",
        "GITHUB_REF_NAME": "main",
        "GITHUB_SHA": "0123456789abcdef",
        "GITHUB_STEP_SUMMARY": str(summary),
    }

    def run(step: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-eo", "pipefail", "-c", step["run"]],
            cwd=pytester.path, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def merged_run() -> None:
        result = pytester.runpytest_subprocess("--gridgate-report=reports/gridgate-3.12.json")
        assert result.ret == 0

    for _ in range(2):
        merged_run()
        recorded = run(record)
        assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    drawn = run(draw)
    assert drawn.returncode == 0, drawn.stdout + drawn.stderr
    assert "### gridgate history: main (2 runs), trend passed" in summary.read_text()
    assert (pytester.path / "reports/history.html").stat().st_size > 10_000

    (pytester.path / "test_two.py").unlink()
    merged_run()
    recorded = run(record)
    assert recorded.returncode == 1
    assert "FAIL vanished 3 of 5 tests collected before are gone" in recorded.stdout
    assert run(draw).returncode == 0
    text = summary.read_text()
    assert "### gridgate history: main (3 runs), trend failed: vanished" in text
    assert "- `test_two.py::test_c`" in text
