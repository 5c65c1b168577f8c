"""``--baseline``/``--update-baseline`` and ``--fix``/``--diff`` on real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SHELL = "import os\n\n\ndef f():\n    os.system('a')\n    os.system('a')\n    os.system('b')\n"

ASYNC = """\
import asyncio


async def handler():
    loop = asyncio.get_event_loop()
    return loop


def sync():
    return asyncio.get_event_loop()
"""


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scanners", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def rules(stdout: str) -> list[str]:
    return [line.split(" ")[1] for line in stdout.splitlines() if ": G" in line]


def test_baseline_matches_by_source_not_line_and_only_shrinks(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text(SHELL)
    baseline = tmp_path / "baseline.json"

    update = run(tmp_path, "--baseline", "baseline.json", "--update-baseline")
    assert update.returncode == 0, update.stdout
    assert "Baseline baseline.json: 3 finding(s) (3 added, 0 removed)." in update.stdout
    data = json.loads(baseline.read_text())
    assert data["version"] == 1
    assert [(e["rule"], e["path"], e["count"]) for e in data["findings"]] == [
        ("GG005", "mod.py", 2),  # two identical calls need a count of two
        ("GG005", "mod.py", 1),
    ]
    assert data == json.loads(json.dumps(data, sort_keys=True))
    assert baseline.read_text() == json.dumps(data, indent=2, sort_keys=True) + "\n"

    # Lines move: still known. A third identical call is new.
    (tmp_path / "mod.py").write_text("\n\n# moved\n" + SHELL + "    os.system('a')\n")
    moved = run(tmp_path, "--baseline", "baseline.json")
    assert moved.returncode == 1
    assert rules(moved.stdout) == ["GG005"]
    assert "mod.py:11:5: GG005" in moved.stdout
    assert "3 known finding(s) accepted by the baseline." in moved.stdout
    sarif = json.loads(run(tmp_path, "--baseline", "baseline.json", "--format", "sarif").stdout)
    kinds = [r.get("suppressions", [{}])[0].get("kind") for r in sarif["runs"][0]["results"]]
    assert sorted(kinds, key=str) == [None, "external", "external", "external"]

    # Findings go away: reported as fixed until the baseline is updated, which shrinks it.
    (tmp_path / "mod.py").write_text("import os\n\nos.system('b')\n")
    fixed = run(tmp_path, "--baseline", "baseline.json")
    assert fixed.returncode == 0
    assert "2 baselined finding(s) no longer occur (fixed)" in fixed.stdout
    shrink = run(tmp_path, "--baseline", "baseline.json", "--update-baseline")
    assert "1 finding(s) (0 added, 2 removed)" in shrink.stdout
    assert len(json.loads(baseline.read_text())["findings"]) == 1


def test_broken_baseline_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text(SHELL)
    (tmp_path / "baseline.json").write_text("{not json")
    result = run(tmp_path, "--baseline", "baseline.json")
    assert result.returncode == 2
    assert result.stderr.startswith("gridgate scan: baseline.json: cannot read baseline")
    assert result.stderr.count("\n") == 1


def test_diff_previews_and_fix_rewrites(tmp_path: Path) -> None:
    (tmp_path / "loops.py").write_text(ASYNC)
    (tmp_path / "broken.py").write_text(
        "import asyncio\nasync def f(:\n    asyncio.get_event_loop()\n"
    )

    plain = run(tmp_path)  # caches the findings, without the fix (not asked for)
    assert "loops.py:5:12: GG001" in plain.stdout
    assert "1 fixable with --fix" in plain.stdout
    diff = run(tmp_path, "--diff")
    assert diff.returncode == 1
    assert diff.stdout.startswith("--- a/loops.py\n+++ b/loops.py\n")
    assert (
        "-    loop = asyncio.get_event_loop()\n+    loop = asyncio.get_running_loop()"
        in diff.stdout
    )
    assert "broken.py" not in diff.stdout
    assert "1 finding(s) in 1 file(s) would be fixed" in diff.stderr
    assert (tmp_path / "loops.py").read_text() == ASYNC

    fix = run(tmp_path, "--fix")
    assert fix.returncode == 1  # the sync call and the broken file remain
    assert rules(fix.stdout) == ["GG000", "GG001"]
    assert "loops.py:10:12: GG001" in fix.stdout
    assert "Fixed 1 finding(s) in 1 file(s)." in fix.stdout
    assert (tmp_path / "loops.py").read_text() == ASYNC.replace(
        "loop = asyncio.get_event_loop()", "loop = asyncio.get_running_loop()"
    )
    assert "async def f(:" in (tmp_path / "broken.py").read_text()

    again = run(tmp_path, "--fix")
    assert rules(again.stdout) == ["GG000", "GG001"]
    assert "Fixed" not in again.stdout


def test_suppressed_fixable_finding_is_not_fixed(tmp_path: Path) -> None:
    source = ASYNC.replace(
        "loop = asyncio.get_event_loop()",
        "loop = asyncio.get_event_loop()  # gridgate: ignore[GG001] on purpose",
    )
    (tmp_path / "loops.py").write_text(source)
    fix = run(tmp_path, "--fix")
    assert (tmp_path / "loops.py").read_text() == source
    assert rules(fix.stdout) == ["GG001"]
