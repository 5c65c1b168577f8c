"""``gridgate init --shards N``: the reusable workflow runs each Python version as N shards
and its gate job merges them; the templates stay valid for the offline validators."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pytest_gridgate.init import main
from tests.test_init import assert_valid_workflows

BIN = Path(sys.executable).parent


def _init(repo: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    repo.mkdir(parents=True, exist_ok=True)
    (repo / ".git").mkdir(exist_ok=True)
    monkeypatch.chdir(repo)
    return main(list(args))


def test_shards_write_the_caller_and_a_sharded_reusable_workflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    assert _init(repo, monkeypatch, "--shards", "4", "--python", "3.11,3.12") == 0
    capsys.readouterr()
    workflows = repo / ".github" / "workflows"
    files = sorted(workflows.glob("*.yml"))
    assert [p.name for p in files] == ["gridgate-caller.yml", "gridgate-reusable.yml"]
    assert_valid_workflows(files, tmp_path)

    caller = yaml.safe_load((workflows / "gridgate-caller.yml").read_text())
    (job,) = caller["jobs"].values()
    assert job["with"]["shards"] == 4
    reusable = yaml.safe_load((workflows / "gridgate-reusable.yml").read_text())
    # YAML 1.1 reads `on` as true.
    assert reusable[True]["workflow_call"]["inputs"]["shards"]["default"] == 4
    test = reusable["jobs"]["test"]
    assert test["strategy"]["matrix"]["shard"] == "${{ fromJSON(needs.shards.outputs.list) }}"
    assert test["env"]["GRIDGATE_SHARD"] == "${{ matrix.shard }}/${{ inputs.shards }}"
    gate = reusable["jobs"]["gate"]
    assert {"test", "coverage", "shards"} <= set(gate["needs"])
    assert any("gridgate merge" in step.get("run", "") for step in gate["steps"])
    # Regenerating from the header gives the same files.
    header = (workflows / "gridgate-reusable.yml").read_text().splitlines()[1]
    assert "--shards 4" in header


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shards", "4", "--template", "gate"], "--shards: the gate template runs unsharded"),
        (["--shards", "0"], "--shards: expected 1 to 64"),
        (["--shards", "65"], "--shards: expected 1 to 64"),
        (["--shards", "64", "--python", "3.10,3.11,3.12,3.13,3.14"], "256 jobs"),
    ],
)
def test_bad_shard_counts_are_usage_errors(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    assert _init(tmp_path, monkeypatch, *args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / ".github").exists()


def _step(workflow: Path, job: str, name: str) -> dict[str, str]:
    data = yaml.safe_load(workflow.read_text())
    steps = [s for s in data["jobs"][job]["steps"] if s.get("name") == name]
    assert len(steps) == 1, name
    step: dict[str, str] = steps[0]
    return step


def test_the_gate_jobs_merge_step_runs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    pytester: pytest.Pytester,
) -> None:
    """The merge step's script, run by bash on the artifacts two shards would upload:
    exit 0 and a durations file; exit 2 once a shard's report is missing."""
    repo = tmp_path / "repo"
    assert _init(repo, monkeypatch, "--shards", "2", "--python", "3.12") == 0
    capsys.readouterr()
    step = _step(repo / ".github/workflows/gridgate-reusable.yml", "gate", "Merge the shards")
    monkeypatch.chdir(pytester.path)

    pytester.makepyfile(test_suite="import pytest\n@pytest.mark.parametrize('i', range(5))\n"
                        "def test_i(i): pass\n")  # fmt: skip
    for k in (1, 2):
        artifact = pytester.path / "reports" / f"test-reports-3.12-{k}"
        artifact.mkdir(parents=True)
        result = pytester.runpytest_subprocess(
            f"--gridgate-shard={k}/2", f"--gridgate-report={artifact / 'gridgate.json'}"
        )
        assert result.ret == 0

    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "PYTHONS": '["3.12"]',
        "MAIN_PYTHON": "3.12",
        "SHARDS": "2",
    }

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-eo", "pipefail", "-c", step["run"]],
            cwd=pytester.path, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    merged = run()
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert "PASS shard       2 shards, 5 tests, each ran once" in merged.stdout
    assert len(json.loads((pytester.path / ".gridgate/durations.json").read_text())) == 5
    assert json.loads((pytester.path / "reports/gridgate-3.12.json").read_text())["exit_code"] == 0

    (pytester.path / "reports/test-reports-3.12-2/gridgate.json").unlink()
    incomplete = run()
    assert incomplete.returncode == 2
    assert "reports/test-reports-3.12-2/gridgate.json: cannot read" in incomplete.stderr
