"""End to end: a suite with sleeps, 4 shards as 4 concurrent pytest processes with -n 2
each, then `gridgate merge`, as the reusable workflow runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

MODULE = """
import time
import pytest

@pytest.fixture(scope="module")
def shared():
    return {{}}

@pytest.mark.parametrize("i", range(10))
def test_sleeps(i, {fixture}):
    time.sleep(0.01 * ({n} + i % 3))
"""


def _gridgate(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_gridgate.cli", *args],
        cwd=path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_four_shards_with_xdist_merge_into_one_whole_run(pytester: pytest.Pytester) -> None:
    # 60 tests in 6 modules; two use a module-scoped fixture (kept on one shard each).
    for n in range(6):
        fixture = "shared" if n < 2 else "tmp_path"
        pytester.makepyfile(**{f"test_mod{n}": MODULE.format(n=n, fixture=fixture)})
    pytester.makepyprojecttoml('[tool.gridgate.shard]\ndurations = ".gridgate/durations.json"\n')
    path = pytester.path

    # The first run is unsharded; merging its report makes the first durations file.
    first = pytester.runpytest_subprocess("-n", "2", "--gridgate-report=unsharded.json")
    assert first.ret == 0
    made = _gridgate(path, "merge", "unsharded.json", "--durations=.gridgate/durations.json")
    assert made.returncode == 0, made.stderr
    assert len(_load(path / ".gridgate/durations.json")) == 60

    shards = [
        subprocess.Popen(
            [sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider",
             f"--gridgate-shard={k}/4", f"--gridgate-report=shard-{k}.json"],
            cwd=path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for k in (1, 2, 3, 4)
    ]  # fmt: skip
    for proc in shards:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out

    reports = [_load(path / f"shard-{k}.json") for k in (1, 2, 3, 4)]
    assert all(r["counts"]["collected"] == 60 for r in reports)
    assert sum(r["counts"]["passed"] for r in reports) == 60
    for n in (0, 1):  # the module-scoped fixture's modules stayed whole
        holders = [r for r in reports if any(f"test_mod{n}.py" in i for i in r["shard"]["ran"])]
        assert len(holders) == 1

    merged = _gridgate(
        path, "merge", *(f"shard-{k}.json" for k in (1, 2, 3, 4)),
        "--report=merged.json", "--summary=summary.md", "--durations=.gridgate/durations.json",
    )  # fmt: skip
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert "PASS shard       4 shards, 60 tests, each ran once" in merged.stdout
    data = _load(path / "merged.json")
    counts = data["counts"]
    assert counts["collected"] == counts["passed"] == 60
    assert sum(counts[k] for k in ("passed", "failed", "errors", "skipped")) == 60
    ran = data["shard"]["ran"]
    assert len(ran) == len(set(ran)) == 60
    assert sorted(ran) == sorted(data["shard"]["collected_ids"])
    assert "gridgate: passed" in (path / "summary.md").read_text()

    (path / "shard-3.json").unlink()
    incomplete = _gridgate(path, "merge", *(f"shard-{k}.json" for k in (1, 2, 4)))
    assert incomplete.returncode == 2
    assert "shard 3/4 missing (got 3 of 4)" in incomplete.stderr
