"""The trend verdict in the gate report: the plugin's --gridgate-history and gridgate merge
--history; the run section every report carries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_gridgate import cli

SUITE = {
    "test_one": "import time\ndef test_x(): time.sleep(0.2)\ndef test_y(): pass\n",
    "test_two": "def test_a(): pass\ndef test_b(): pass\ndef test_c(): pass\n",
}


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _gate(data: dict[str, Any], name: str) -> dict[str, Any]:
    [gate] = [g for g in data["gates"] if g["gate"] == name]
    return gate


def test_every_report_has_the_run_clock(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(**SUITE)
    result = pytester.runpytest_subprocess("-n", "2", "--gridgate-report=r.json")
    assert result.ret == 0
    run = _load(pytester.path / "r.json")["run"]
    assert run["wall_seconds"] >= 0.2  # the whole run, xdist's start-up included
    assert run["started"].endswith("+00:00")
    assert "history" not in [g["gate"] for g in _load(pytester.path / "r.json")["gates"]]


def test_plugin_judges_the_run_against_the_history(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_REF_NAME", "main")
    pytester.makepyfile(**SUITE)
    assert pytester.runpytest_subprocess("--gridgate-report=r1.json").ret == 0
    assert cli.main(["history", "add", "r1.json"]) == 0
    (pytester.path / "test_two.py").unlink()

    result = pytester.runpytest_subprocess(
        "--gridgate-report=r2.json",
        "--gridgate-summary=s.md",
        "--gridgate-history=.gridgate/history.jsonl",
    )
    assert result.ret == 1  # every test passed; the trend did not
    result.stdout.fnmatch_lines(
        [
            "FAIL history * vanished: 3 of 5 tests collected before are gone (limit 2), 0 new",
            "    vanished: test_two.py::test_a",
            "gridgate: failed (exit code 1)",
        ]
    )
    data = _load(pytester.path / "r2.json")
    assert data["exit_code"] == 1
    assert not _gate(data, "history")["passed"]
    assert data["history"]["vanished"] == [f"test_two.py::test_{n}" for n in "abc"]
    assert "| history | ❌ fail |" in (pytester.path / "s.md").read_text()
    # Judged, not added: adding stays gridgate history add's.
    assert len((pytester.path / ".gridgate/history.jsonl").read_text().splitlines()) == 1


def test_plugin_history_that_passes_keeps_the_exit_status(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_REF_NAME", "main")
    pytester.makepyfile(**SUITE)
    assert pytester.runpytest_subprocess("--gridgate-report=r1.json").ret == 0
    assert cli.main(["history", "add", "r1.json"]) == 0
    result = pytester.runpytest_subprocess("--gridgate-history=.gridgate/history.jsonl")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["PASS history * against 'main': 0 vanished (limit 2), *"])


def test_merge_judges_the_whole_run(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_REF_NAME", "main")
    pytester.makepyfile(**SUITE)
    for k in (1, 2):
        result = pytester.runpytest_subprocess(
            f"--gridgate-shard={k}/2", f"--gridgate-report=a{k}.json"
        )
        assert result.ret == 0
    assert cli.main(["merge", "a1.json", "a2.json", "--report=a.json"]) == 0
    merged = _load(pytester.path / "a.json")
    walls = [_load(pytester.path / f"a{k}.json")["run"]["wall_seconds"] for k in (1, 2)]
    assert merged["run"]["wall_seconds"] == max(walls)
    assert cli.main(["history", "add", "a.json"]) == 0
    (pytester.path / "test_two.py").unlink()
    for k in (1, 2):
        result = pytester.runpytest_subprocess(
            f"--gridgate-shard={k}/2", f"--gridgate-report=b{k}.json"
        )
        assert result.ret == 0
    capsys.readouterr()

    code = cli.main(
        ["merge", "b1.json", "b2.json", "--report=b.json", "--history=.gridgate/history.jsonl"]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL history " in out
    merged = _load(pytester.path / "b.json")
    assert merged["exit_code"] == 1
    assert merged["history"]["vanished"] == [f"test_two.py::test_{n}" for n in "abc"]
