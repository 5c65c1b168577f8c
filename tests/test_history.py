"""gridgate history add: the trend gate over real runs (vanished tests, duration creep,
flaky and leaks rising), the history file's robustness, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_gridgate import cli

# Imported here, before any test: a test using ``pytester`` drops at its teardown the modules
# imported during it, but not the package's attributes naming them, so a later fresh
# ``history.cli`` would import the dropped ``record`` (and its dropped ``HistoryError``)
# through ``from pytest_gridgate.history import record``. Only the suite sees this: the
# gate's history plugin imports the package in the outer run.
from pytest_gridgate.history import cli as history_cli  # noqa: F401

SUITE = {
    "test_one": "import os, time\n"
    "def test_slow():\n    time.sleep(float(os.environ.get('GG_SLEEP', '0')))\n"
    "def test_fast(): pass\n",
    "test_two": "def test_a(): pass\ndef test_b(): pass\ndef test_c(): pass\n",
}
HISTORY = ".gridgate/history.jsonl"


def _run(pytester: pytest.Pytester, report: str, *args: str) -> int:
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--gridgate-report={report}", *args
    )
    return int(result.ret)


def _add(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["history", "add", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _report(path: Path, ids: list[str], wall: float, **sections: Any) -> str:
    """A gate report as the plugin writes it, for the checks that need chosen numbers."""
    data = {
        "version": 1,
        "outcome": "passed",
        "exit_code": 0,
        "counts": {"collected": len(ids), "passed": len(ids)},
        "shard": {
            "index": 1,
            "total": 1,
            "collected": len(ids),
            "collected_digest": "x",
            "ran": ids,
            "collected_ids": ids,
        },
        "run": {"started": "2026-12-01T10:00:00+00:00", "wall_seconds": wall},
        **sections,
    }
    path.write_text(json.dumps(data))
    return str(path)


# --------------------------------------------------------------------------- vanished


def test_deleted_module_is_listed_and_fails_until_accepted(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(**SUITE)
    assert _run(pytester, "r1.json") == 0
    assert _add(capsys, "r1.json", "--branch", "main")[0] == 0
    (pytester.path / "test_two.py").unlink()
    assert _run(pytester, "r2.json") == 0  # green: every remaining test passed

    code, out, _ = _add(capsys, "r2.json", "--branch", "main")
    assert code == 1
    assert "FAIL vanished 3 of 5 tests collected before are gone (limit 2), 0 new" in out
    for name in ("test_a", "test_b", "test_c"):
        assert f"    test_two.py::{name}\n" in out
    assert out.rstrip().endswith("gridgate history: failed: a trend limit is broken")
    # Re-running the job does not turn it green: the baseline is the last accepted run.
    assert _add(capsys, "r2.json", "--branch", "main")[0] == 1
    code, out, _ = _add(capsys, "r2.json", "--branch", "main", "--accept")
    assert code == 0
    assert "accepted as the new baseline" in out
    code, out, _ = _add(capsys, "r2.json", "--branch", "main")
    assert code == 0
    assert "PASS vanished 0 of 2 tests" in out
    lines = _lines(pytester.path / HISTORY)
    assert len(lines) == 5  # nothing lost: failed runs are recorded too
    assert lines[1]["vanished"] == [f"test_two.py::test_{n}" for n in "abc"]
    assert lines[1]["trend"]["broken"] == ["vanished"]


def test_renamed_test_inside_the_limit_is_listed_and_passes(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(**SUITE)
    assert _run(pytester, "r1.json") == 0
    assert _add(capsys, "r1.json", "--branch", "main")[0] == 0
    pytester.makepyfile(
        test_two="def test_a_renamed(): pass\ndef test_b(): pass\ndef test_c(): pass\n"
    )
    assert _run(pytester, "r2.json") == 0

    code, out, _ = _add(capsys, "r2.json", "--branch", "main")
    assert code == 0
    assert "PASS vanished 1 of 5 tests collected before are gone (limit 2), 1 new" in out
    assert "    test_two.py::test_a\n" in out


def test_ratio_limit_and_default_branch_fallback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.gridgate.history]\nmax_vanished = 0.1\n")
    ids = [f"t.py::test_{i}" for i in range(40)]
    assert _add(capsys, _report(tmp_path / "a.json", ids, 1.0), "--branch", "main")[0] == 0
    # A new branch has no history: it is compared with main's. 4 of 40 is within 10%.
    code, out, _ = _add(capsys, _report(tmp_path / "b.json", ids[4:], 1.0), "--branch", "pr-1")
    assert code == 0, out
    assert "4 of 40 tests collected before are gone (limit 4)" in out
    assert "default branch 'main'" in out
    code, out, _ = _add(capsys, _report(tmp_path / "c.json", ids[5:], 1.0), "--branch", "pr-2")
    assert code == 1
    assert "FAIL vanished 5 of 40" in out


# --------------------------------------------------------------------------- duration creep


def test_duration_creep_over_the_median_fails(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(**SUITE)
    for k in range(3):
        assert _run(pytester, f"r{k}.json") == 0
        assert _add(capsys, f"r{k}.json", "--branch", "main")[0] == 0
    monkeypatch.setenv("GG_SLEEP", "2")
    assert _run(pytester, "slow.json") == 0

    code, out, _ = _add(capsys, "slow.json", "--branch", "main")
    assert code == 1
    assert "FAIL duration " in out
    assert "median of 3 runs of 'main'" in out
    assert "PASS vanished 0 of 5" in out
    lines = _lines(pytester.path / HISTORY)
    assert lines[-1]["wall"] >= 2
    assert lines[-1]["slowest"][0][0] == "test_one.py::test_slow"


def test_duration_window_and_limit_from_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        "[tool.gridgate.history]\nwindow = 2\nmax_duration_increase = 0.5\n"
    )
    ids = ["t.py::test_a"]
    for k, wall in enumerate((100.0, 10.0, 10.0)):
        _add(capsys, _report(tmp_path / f"{k}.json", ids, wall), "--branch", "main")
    # Median of the last 2 runs is 10 s, not the 100 s run before them: 14 s passes.
    code, out, _ = _add(capsys, _report(tmp_path / "p.json", ids, 14.0), "--branch", "main")
    assert code == 0, out
    assert "14.0 s, median of 2 runs of 'main' 10.0 s (+40%, limit +50%)" in out
    code, out, _ = _add(capsys, _report(tmp_path / "f.json", ids, 40.0), "--branch", "main")
    assert code == 1
    assert "FAIL duration 40.0 s, median of 2 runs of 'main' 12.0 s" in out


def test_flaky_rate_and_leaks_rising_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ids = [f"t.py::test_{i}" for i in range(50)]
    for k in range(3):
        _add(capsys, _report(tmp_path / f"{k}.json", ids, 1.0), "--branch", "main")
    flaky = [
        {"nodeid": ids[0], "outcome": "flaky", "attempts": ["failed", "passed"]},
        # Failed every attempt: a failure, not a flaky test.
        {"nodeid": ids[2], "outcome": "failed", "attempts": ["failed", "failed"]},
    ]
    code, out, _ = _add(
        capsys, _report(tmp_path / "one.json", ids, 1.0, flaky=flaky), "--branch", "main"
    )
    assert code == 1  # 2% of the tests flaky, over the median 0% by more than 1 point
    assert "FAIL flaky    2.00% of tests flaky, median 0.00%" in out
    assert f"    {ids[0]}" in out
    assert ids[2] not in out
    leak = {"nodeid": ids[1], "kind": "thread", "detail": "x", "action": "fail", "cleaned": True}
    code, out, _ = _add(
        capsys, _report(tmp_path / "l.json", ids, 1.0, leaks=[leak]), "--branch", "main"
    )
    assert code == 1
    assert "FAIL leaks    1 leaks, median 0 (limit +0)" in out
    assert "PASS flaky" in out


def test_failures_by_category_are_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ["t.py::test_a", "t.py::test_b", "t.py::test_c"]
    failures = [
        {
            "nodeid": ids[0],
            "when": "call",
            "category": "assertion",
            "exception": "AssertionError",
            "message": "",
        },
        {
            "nodeid": ids[1],
            "when": "call",
            "category": "timeout",
            "exception": "Failed",
            "message": "",
        },
        {
            "nodeid": ids[2],
            "when": "setup",
            "category": "assertion",
            "exception": "AssertionError",
            "message": "",
        },
    ]
    history = str(tmp_path / "h.jsonl")
    _add(
        capsys,
        _report(tmp_path / "r.json", ids, 1.0, failures=failures),
        "--history",
        history,
        "--branch",
        "x",
    )
    assert _lines(Path(history))[0]["failures"] == {"assertion": 2, "timeout": 1}


# --------------------------------------------------------------------------- the file


def test_corrupt_and_truncated_lines_are_skipped_with_their_line_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "h.jsonl"
    ids = ["t.py::test_a", "t.py::test_b", "t.py::test_c"]
    assert (
        _add(
            capsys,
            _report(tmp_path / "r.json", ids, 1.0),
            "--history",
            str(history),
            "--branch",
            "main",
        )[0]
        == 0
    )
    good = history.read_text()
    # A merge conflict marker, a line of another tool, and a line cut by a killed job.
    history.write_text(good + "<<<<<<< HEAD\n" + '{"v": 7}\n' + good[: len(good) // 2])

    code, out, err = _add(
        capsys, str(tmp_path / "r.json"), "--history", str(history), "--branch", "main"
    )
    assert code == 0
    assert f"{history}:2: warning: line skipped: not JSON" in err
    assert f"{history}:3: warning: line skipped: not a gridgate history line" in err
    assert f"{history}:4: warning: line skipped: not JSON" in err
    assert "median of 1 runs of 'main'" in out
    text = history.read_text()
    assert text.startswith(good + "<<<<<<< HEAD\n" + '{"v": 7}\n' + good[: len(good) // 2] + "\n")
    assert len(text.splitlines()) == 5  # every line kept, the new run on a line of its own
    assert json.loads(text.splitlines()[-1])["commit"]
    code = cli.main(
        ["history", "show", "--history", str(history), "--markdown", str(tmp_path / "m.md")]
    )
    assert code == 0
    assert f"{history}:4: warning: line skipped" in capsys.readouterr().err
    assert "(2 runs)" in (tmp_path / "m.md").read_text()


_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pytest_gridgate import cli
    go, report, history, name = sys.argv[1:]
    while not Path(go).exists():
        time.sleep(0.001)
    for _ in range(200):
        code = cli.main(["history", "add", report, "--history", history,
                         "--branch", "main", "--commit", name])
        assert code in (0, 1), code
    """
)


def test_two_concurrent_writers_make_400_whole_lines(tmp_path: Path) -> None:
    # Lines over 8 KB (the slowest tests' long ids): more than one buffered write would
    # need, so a writer that did not write a line in one go would tear it.
    ids = [f"t.py::test_{i}_{'x' * 900}" for i in range(12)]
    durations = [{"nodeid": n, "seconds": 0.1} for n in ids]
    report = _report(tmp_path / "r.json", ids, 1.0, durations=durations)
    history, go = tmp_path / "h.jsonl", tmp_path / "go"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(go), report, str(history), name],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("A", "B")
    ]
    go.touch()
    for writer in writers:
        _, err = writer.communicate(timeout=240)
        assert writer.returncode == 0, err
    lines = history.read_text().splitlines()
    assert len(lines) == 400
    assert all(len(line) > 9000 for line in lines)
    commits = [json.loads(line)["commit"] for line in lines]  # each one whole JSON
    assert commits.count("A") == commits.count("B") == 200
    state = json.loads((tmp_path / "h.state.json").read_text())
    assert state["branches"]["main"]["collected_ids"] == ids


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "r.json: not valid JSON"),
        ('{"version": 2, "counts": {}}', "r.json: not a gridgate JSON report (version 1)"),
        (
            '{"version": 1, "counts": {"passed": "3"}}',
            "r.json: a gridgate report without valid 'counts'",
        ),
        (
            '{"version": 1, "counts": {}, "flaky": {"a": 1}}',
            "r.json: 'flaky' is not a list of objects",
        ),
    ],
)
def test_bad_report_is_exit_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    (tmp_path / "r.json").write_text(content)
    history = tmp_path / "h.jsonl"
    code, _, err = _add(capsys, str(tmp_path / "r.json"), "--history", str(history))
    assert code == 2
    assert message in err
    assert not history.exists()


def test_bad_history_setting_and_unwritable_history_are_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    report = _report(tmp_path / "r.json", ["t.py::test_a"], 1.0)
    (tmp_path / "pyproject.toml").write_text("[tool.gridgate.history]\nwindow = 0\n")
    code, _, err = _add(capsys, report)
    assert code == 2
    assert "pyproject.toml: history.window: must be from 1 to 10000, got 0" in err
    (tmp_path / "pyproject.toml").write_text("[tool.gridgate.history]\nfile = 'dir'\n")
    (tmp_path / "dir").mkdir()
    code, _, err = _add(capsys, report)
    assert code == 2
    assert "gridgate history: error: dir: cannot open" in err


def test_show_refuses_an_empty_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(
        [
            "history",
            "show",
            "--history",
            str(tmp_path / "h.jsonl"),
            "--html",
            str(tmp_path / "p.html"),
        ]
    )
    assert code == 2
    assert "no runs recorded" in capsys.readouterr().err
    assert not (tmp_path / "p.html").exists()


def test_outputs_stay_small_for_10000_tests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Long node ids, every one flaky, then every one gone: the lists in a line, the
    # trend block and the page are capped, not the size of the suite.
    ids = [f"tests/test_module_{i // 50}.py::TestCase::test_{i}[{'p' * 60}]" for i in range(10_000)]
    flaky = [{"nodeid": n, "attempts": ["failed", "passed"]} for n in ids]
    history = str(tmp_path / "h.jsonl")
    for name, run_ids, extra in (("a", ids, {"flaky": flaky}), ("b", ids[:10], {})):
        report = _report(tmp_path / f"{name}.json", run_ids, 1.0, **extra)
        _add(capsys, report, "--history", history, "--branch", "main")
    lines = Path(history).read_text().splitlines()
    assert max(len(line) for line in lines) < 20_000
    assert json.loads(lines[1])["vanished_count"] == 9_990
    block, page = tmp_path / "t.md", tmp_path / "p.html"
    assert (
        cli.main(
            ["history", "show", "--history", history, "--markdown", str(block), "--html", str(page)]
        )
        == 0
    )
    text = block.read_text()
    assert len(text.encode()) < 100_000
    assert "Vanished in the latest run (9990):" in text
    assert "- ... and 9970 more" in text
    assert page.stat().st_size < 2_000_000


def test_show_html_names_the_charts_extra_when_pygal_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = str(tmp_path / "h.jsonl")
    _add(
        capsys,
        _report(tmp_path / "r.json", ["t.py::test_a"], 1.0),
        "--history",
        history,
        "--branch",
        "main",
    )
    without_pygal = (
        "import sys; sys.modules['pygal'] = None\n"  # import pygal raises ImportError
        "from pytest_gridgate import cli\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    args = ["history", "show", "--history", history, "--markdown", str(tmp_path / "t.md")]
    result = subprocess.run(
        [sys.executable, "-c", without_pygal, *args, "--html", str(tmp_path / "p.html")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--html needs pygal" in result.stderr
    assert "pip install 'pytest-gridgate[charts]'" in result.stderr
    assert not (tmp_path / "p.html").exists()
    # The trend block needs no charts library.
    result = subprocess.run(
        [sys.executable, "-c", without_pygal, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "| run | commit | tests |" in (tmp_path / "t.md").read_text()
