"""The gate report: terminal section, JSON v1 and Markdown, on one process and under xdist."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

MIXED = """
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("fixture")

def test_pass_1(): pass
def test_pass_2(): pass
def test_fail(): assert False
def test_error(broken): pass
@pytest.mark.skip(reason="no")
def test_skip(): pass
@pytest.mark.xfail(reason="known", strict=False)
def test_xfail(): assert False
@pytest.mark.xfail(reason="known", strict=False)
def test_xpass(): pass

@pytest.fixture
def bad_teardown():
    yield
    raise RuntimeError("teardown")

def test_pass_then_teardown_error(bad_teardown): pass
def test_hang(): assert False, "stands in for a timed-out test"
"""

# A stand-in for the timeouts and leaks gates: findings attached to test reports (on the
# workers under xdist) and a verdict with many details, through the public extension API.
OTHER_GATE = """
import pytest
from pytest_gridgate.report import attach

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.when == "call" and "pass" in item.name:
        attach(report, "timeouts", {"nodeid": item.nodeid, "seconds": 3.0, "phase": "call"})
        attach(report, "leaks", {"nodeid": item.nodeid, "kind": "thread", "detail": "t",
                                 "action": "warn", "cleaned": False})
    return report

def pytest_report_teststatus(report, config):
    # A category of its own, as a timeouts gate may add one: it must count as a failure.
    if report.when == "call" and report.failed and "hang" in report.nodeid:
        return "timeout", "T", "TIMEOUT"

def pytest_gridgate_report(report, config):
    leaks = report.sections["leaks"]
    report.add_verdict("leaks", False, f"{len(leaks)} leaks",
                       [f"{leak['nodeid']}: {leak['kind']}" for leak in leaks] * 7)
"""

SUMMARY_LINE = re.compile(r"=+ (.*) in [\d.]+s")
WORDS = {"error": "errors", "errors": "errors"}


def _terminal_counts(stdout: str) -> dict[str, int]:
    line = next(m.group(1) for m in map(SUMMARY_LINE.match, reversed(stdout.splitlines())) if m)
    counts = {}
    for part in line.split(", "):
        n, word = part.split(" ", 1)
        counts[WORDS.get(word, word)] = int(n)
    return counts


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["single", "xdist"])
def test_json_report_matches_pytest_and_carries_other_gates(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, xdist: list[str]
) -> None:
    pytester.makeconftest(OTHER_GATE)
    pytester.makepyfile(test_mixed=MIXED)
    step_summary = pytester.path / "step_summary.md"
    step_summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    result = pytester.runpytest_subprocess(*xdist, "--gridgate-report=out/r.json")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report: dict[str, Any] = json.loads((pytester.path / "out" / "r.json").read_text())
    assert report["version"] == 1
    assert (report["outcome"], report["exit_code"]) == ("failed", 1)
    terminal = _terminal_counts(result.stdout.str())
    assert terminal == {"failed": 1, "passed": 3, "skipped": 1, "xfailed": 1, "xpassed": 1,
                        "errors": 2, "timeout": 1}  # fmt: skip
    assert report["counts"] == {"collected": 9, "deselected": 0, **terminal}
    assert list(report)[:5] == ["version", "outcome", "exit_code", "counts", "collection_errors"]
    assert {"timeouts", "leaks", "env", "gates"} <= set(report)
    # The three passing tests and the xpass carry findings; the pass/teardown test once.
    assert sorted(t["nodeid"] for t in report["timeouts"]) == sorted(
        f"test_mixed.py::{name}"
        for name in ("test_pass_1", "test_pass_2", "test_xpass", "test_pass_then_teardown_error")
    )
    assert report["leaks"][0]["kind"] == "thread"

    result.stdout.fnmatch_lines(
        [
            "*= gridgate =*",
            "PASS collection  9 tests collected",
            "FAIL tests       3 passed, 1 failed, 2 errors, 1 skipped, 1 xfailed, 1 xpassed, "
            "1 timeout",
            "FAIL leaks       4 leaks",
            "    test_mixed.py::*: thread",
            "    ... and 20 more",
            "gridgate: failed (exit code 1)",
        ]
    )
    markdown = step_summary.read_text()
    assert markdown.startswith("earlier step\n## ❌ gridgate: failed (exit code 1)")
    assert "| leaks | ❌ fail | 4 leaks |" in markdown
    assert "... and" not in markdown  # 28 details fit under the Markdown cap


# A plugin's own report class that does not count towards the summary line (as
# pytest-subtests' reports did): the report counts what the terminal counts. The tally
# asks each class once whether it keeps pytest's own always-true property; this one does
# not, so its reports are asked one by one.
UNCOUNTED_REPORTS = """
import pytest

class NotCounted(pytest.TestReport):
    @property
    def count_towards_summary(self):
        return False

@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report):
    if report.when == "call" and not isinstance(report, NotCounted):
        extra = NotCounted(report.nodeid + "[sub]", report.location, {}, "passed", None, "call")
        config = pytest_runtest_logreport.config
        config.hook.pytest_runtest_logreport(report=extra)

def pytest_configure(config):
    pytest_runtest_logreport.config = config
"""


def test_reports_that_do_not_count_towards_the_summary_are_not_counted(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(UNCOUNTED_REPORTS)
    pytester.makepyfile(TWO_PASSING)
    result = pytester.runpytest_subprocess("--gridgate-report=r.json")

    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    report = json.loads((pytester.path / "r.json").read_text())
    assert _terminal_counts(result.stdout.str()) == {"passed": 2}
    assert report["counts"]["passed"] == 2


def test_summary_option_and_report_on_exitfirst(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_mixed=MIXED)
    result = pytester.runpytest_subprocess(
        "-x", "-p", "no:randomly", "--gridgate-report=r.json", "--gridgate-summary=s.md"
    )

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = json.loads(Path(pytester.path / "r.json").read_text())
    assert report["counts"]["failed"] == 1
    assert report["counts"]["passed"] == 2
    summary = (pytester.path / "s.md").read_text()
    assert summary.startswith("## ❌ gridgate: failed (exit code 1)")
    assert "| tests | ❌ fail | 2 passed, 1 failed |" in summary


# --------------------------------------------------------------------------- writing the files

XDIST = pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["single", "xdist"])
TWO_PASSING = "def test_one(): pass\ndef test_two(): pass\n"


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory nobody can create files in (holding one writable file, ``kept.json``):
    root ignores the permission bits, so as root it is made immutable too (and mutable
    again afterwards, or it could not be removed)."""
    directory = tmp_path / "read-only"
    directory.mkdir()
    (directory / "kept.json").write_text("{}\n")
    directory.chmod(0o555)
    immutable = False
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", str(directory)], capture_output=True, timeout=60)
        if done.returncode != 0:
            pytest.skip("running as root without chattr: no directory is read-only")
        immutable = True
    yield directory
    if immutable:
        subprocess.run(["chattr", "-i", str(directory)], check=True, timeout=60)
    directory.chmod(0o755)


def test_writable_file_in_a_read_only_directory_is_written_in_place(
    pytester: pytest.Pytester, read_only_dir: Path
) -> None:
    pytester.makepyfile(TWO_PASSING)
    kept = read_only_dir / "kept.json"
    result = pytester.runpytest_subprocess(f"--gridgate-report={kept}")

    assert result.ret == 0
    assert json.loads(kept.read_text())["counts"]["passed"] == 2


def _unwritable(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "missing":
        return "/proc/nope/r.json"  # a directory that cannot be made
    if kind == "directory":
        (tmp_path / "adir").mkdir()
        return str(tmp_path / "adir")
    if kind == "full":
        return "/dev/full"  # every write fails with ENOSPC
    read_only: Path = request.getfixturevalue("read_only_dir")
    return str(read_only / "r.json")


@XDIST
@pytest.mark.parametrize("output", ["report", "summary", "step-summary"])
@pytest.mark.parametrize("kind", ["missing", "directory", "full", "read-only"])
def test_unwritable_output_is_one_line_and_the_rest_is_written(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    xdist: list[str],
    output: str,
    kind: str,
) -> None:
    pytester.makepyfile(TWO_PASSING)
    bad = _unwritable(kind, pytester.path, request)
    args = [*xdist]
    if output == "report":
        args += [f"--gridgate-report={bad}", "--gridgate-summary=good.md"]
        what = "the JSON report"
    elif output == "summary":
        args += ["--gridgate-report=good.json", f"--gridgate-summary={bad}"]
        what = "the Markdown summary"
    else:
        monkeypatch.setenv("GITHUB_STEP_SUMMARY", bad)
        args += ["--gridgate-report=good.json"]
        what = "the Markdown summary ($GITHUB_STEP_SUMMARY)"
    result = pytester.runpytest_subprocess(*args, timeout=300)

    output_text = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output_text
    assert "INTERNALERROR" not in output_text
    # Every test passed: the missing file alone fails the run, with a documented status.
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(
        [
            "*= gridgate =*",
            "PASS tests * 2 passed",
            f"FAIL report * cannot write {what} to {bad}: *",
            "gridgate: failed (exit code 4)",
            "*2 passed*",
        ]
    )
    assert len([line for line in result.stdout.lines if "cannot write" in line]) == 1
    # The other output is written, and tells the same story as the terminal.
    if output == "report":
        summary = (pytester.path / "good.md").read_text()
        assert summary.startswith("## ❌ gridgate: failed (exit code 4)")
        assert f"| report | ❌ fail | cannot write {what} to {bad}: " in summary
    else:
        report = json.loads((pytester.path / "good.json").read_text())
        assert (report["exit_code"], report["counts"]["passed"]) == (4, 2)
        assert report["gates"][-1]["gate"] == "report"
        assert report["gates"][-1]["summary"].startswith(f"cannot write {what} to {bad}: ")


def test_unwritable_report_keeps_a_failed_runs_own_status(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_fails(): assert False\n")
    result = pytester.runpytest_subprocess("--gridgate-report=/proc/nope/r.json")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["FAIL report * /proc/nope/r.json: *", "*exit code 1)"])


def test_without_terminal_the_unwritable_path_goes_to_stderr(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TWO_PASSING)
    result = pytester.runpytest_subprocess("-p", "no:terminal", "--gridgate-report=/dev/full")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines == [
        "gridgate: cannot write the JSON report to /dev/full: No space left on device"
    ]


@XDIST
def test_report_is_replaced_whole_never_rewritten_in_place(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    """A reader that opened the report before the run keeps reading one whole file: the
    new report is written aside and renamed into place, never truncated and written over
    (what let a second run, or a reader, see torn JSON)."""
    pytester.makepyfile(TWO_PASSING)
    old = '{"version": 1, "outcome": "old"}\n'
    report = pytester.path / "out" / "r.json"
    report.parent.mkdir()
    report.write_text(old)
    report.chmod(0o640)
    with report.open() as reader:
        result = pytester.runpytest_subprocess(*xdist, "--gridgate-report=out/r.json")
        assert reader.read() == old
    assert result.ret == 0
    assert json.loads(report.read_text())["outcome"] == "passed"
    assert report.stat().st_mode & 0o777 == 0o640  # a replaced report keeps its permissions
    assert sorted(p.name for p in report.parent.iterdir()) == ["r.json"]  # no temporary left


WRITER = """
import sys
from pytest_gridgate import report_format

path, tag = sys.argv[1], sys.argv[2]
# A whole report (the suite checks every report it sees against the schema), made large.
counts = dict.fromkeys(("collected", "passed", "failed", "errors", "skipped"), 0)
gate = {"gate": tag, "passed": True, "summary": "", "details": ["x" * 100] * 3000}
data = {"version": 1, "outcome": "passed", "exit_code": 0, "counts": counts,
        "env": {"applied": [], "kept": []}, "gates": [gate]}
for _ in range(int(sys.argv[3])):
    report_format.write_files(data, path, None, False)
"""


def test_concurrent_writers_never_tear_the_report(tmp_path: Path) -> None:
    """Two processes rewrite one report path again and again while this one reads it: every
    read is one writer's whole report."""
    path = tmp_path / "r.json"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writers = [
        subprocess.Popen([sys.executable, str(script), str(path), tag, "150"]) for tag in ("a", "b")
    ]
    reads = torn = 0
    try:
        while any(w.poll() is None for w in writers):
            try:
                text = path.read_text()
            except FileNotFoundError:
                continue  # before the first write
            reads += 1
            try:
                assert json.loads(text)["gates"][0]["gate"] in ("a", "b")
            except ValueError:
                torn += 1
    finally:
        for writer in writers:
            writer.wait(timeout=300)
    assert [w.returncode for w in writers] == [0, 0]
    assert torn == 0, f"{torn} of {reads} reads saw a torn report"
    assert json.loads(path.read_text())["gates"][0]["gate"] in ("a", "b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "writer.py"]


def test_two_runs_at_once_share_one_report_path_and_step_summary(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(TWO_PASSING)
    summary = pytester.path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    # The memory gate's figures differ from one run to the other; the two must not.
    monkeypatch.setenv("GRIDGATE_MEMORY_ACTION", "off")
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--gridgate-report=r.json"]
    runs = [
        subprocess.Popen(command, cwd=pytester.path, stdout=subprocess.DEVNULL) for _ in range(2)
    ]
    assert [run.wait(timeout=300) for run in runs] == [0, 0]

    assert json.loads((pytester.path / "r.json").read_text())["counts"]["passed"] == 2
    sections = summary.read_text().split("## ✅ gridgate: passed (exit code 0)\n")
    assert sections[0] == "earlier step\n"
    assert len(sections) == 3
    assert sections[1] == sections[2]  # each appended whole, neither cut into the other


# --------------------------------------------------------------------------- quiet output


def _without_timing(lines: list[str]) -> list[str]:
    # The header's plugin list names gridgate, of course.
    return [re.sub(r" in [\d.]+s", "", line) for line in lines if not line.startswith("plugins:")]


@pytest.mark.parametrize(
    "args", [["--co", "-q"], ["--co", "-qq"], ["--collect-only"], ["-qq"]], ids=" ".join
)
def test_nothing_extra_under_collect_only_and_qq(
    pytester: pytest.Pytester, args: list[str]
) -> None:
    """Scripts parse ``--co -q`` and ``-qq`` output: the gate adds nothing when it passes."""
    pytester.makepyfile(TWO_PASSING)
    # Without -q the header differs anyway: it lists the plugins, and pytest-timeout shows
    # the timeout gridgate gave it.
    header = [] if "-q" in args[-1] else ["-p", "no:timeout"]
    plain = pytester.runpytest_subprocess(*args, *header, "-p", "no:gridgate")
    gated = pytester.runpytest_subprocess(*args, *header, "--gridgate-report=r.json")

    assert gated.ret == plain.ret == 0
    assert _without_timing(gated.stdout.lines) == _without_timing(plain.stdout.lines)
    assert json.loads((pytester.path / "r.json").read_text())["outcome"] == "passed"


def test_qq_shows_only_a_failed_gate_that_pytest_does_not(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.gridgate.collection]\nmin_tests = 5\n")
    pytester.makepyfile("def test_one(): pass\ndef test_two(): assert False\n")
    result = pytester.runpytest_subprocess("-qq")

    assert result.ret == pytest.ExitCode.INTERRUPTED
    gate_lines = [
        line for line in result.stdout.lines if line.startswith(("PASS ", "FAIL ", "gridgate:"))
    ]
    assert [line.split("  ")[0] for line in gate_lines] == [
        "FAIL collection",
        "gridgate: failed (exit code 2)",
    ]
    assert "= gridgate =" not in result.stdout.str()


def _gridgate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest_gridgate.cli", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("writer", ["scan-output", "baseline", "init"])
def test_every_file_gridgate_writes_is_replaced_whole(tmp_path: Path, writer: str) -> None:
    """The scanner's ``--output`` and baseline and ``gridgate init``'s workflows are written
    like the gate report: a reader that opened the old file keeps reading all of it."""
    (tmp_path / "pyproject.toml").write_text("[tool.gridgate.scan]\nselect = ['GG']\n")
    (tmp_path / "mod.py").write_text("import asyncio\nasyncio.get_event_loop()\n")
    (tmp_path / ".git").mkdir()  # all init looks for
    args, target = {
        "scan-output": (["scan", "--format", "json", "--output", "out.json", "."], "out.json"),
        "baseline": (["scan", "--baseline", "b.json", "--update-baseline", "."], "b.json"),
        "init": (["init", "--force"], ".github/workflows/gridgate.yml"),
    }[writer]
    path = tmp_path / target
    path.parent.mkdir(parents=True, exist_ok=True)
    old = '{"findings": [], "version": 1}\n'  # an empty baseline, or any old file
    path.write_text(old)
    with path.open() as reader:
        done = _gridgate(*args, cwd=tmp_path)
        assert reader.read() == old
    assert done.returncode in (0, 1), done.stderr
    assert path.read_text() != old
    assert not list(path.parent.glob(".*.tmp"))


def test_run_without_terminal_reporter(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(OTHER_GATE)
    pytester.makepyfile(test_ok="def test_pass(): pass\ndef test_b(): pass\n")
    result = pytester.runpytest_subprocess("-p", "no:terminal", "--gridgate-report=r.json")

    assert result.ret == 0
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["outcome"] == "passed"
    assert report["counts"] == {
        "collected": 2, "passed": 2, "failed": 0, "errors": 0, "skipped": 0,
        "xfailed": 0, "xpassed": 0, "deselected": 0,
    }  # fmt: skip
    assert [t["nodeid"] for t in report["timeouts"]] == ["test_ok.py::test_pass"]
    gates = [g["gate"] for g in report["gates"]]
    # The stand-in's "leaks" verdict, then the real timeouts, memory and leaks gates'.
    assert gates == [
        "collection", "tests", "leaks", "timeouts", "quarantine", "flaky", "failures", "memory",
        "leaks",
    ]  # fmt: skip


PIPES_AND_HANGS = """
import os, subprocess, sys, time
import pytest

@pytest.mark.parametrize("expr", ["a|b"])
def test_leaks_env(expr):
    os.environ["GG_MD_LEAK"] = expr

@pytest.mark.timeout(1)
def test_hangs_with_a_child():
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    time.sleep(120)
"""


def test_markdown_details_render_verbatim(pytester: pytest.Pytester) -> None:
    """A ``|`` in a detail reads as ``|`` (no backslash in a code span) and a timeout's
    further lines keep their line breaks, as GitHub's Markdown (CommonMark + tables) shows."""
    from markdown_it import MarkdownIt

    pytester.makepyfile(test_md=PIPES_AND_HANGS)
    result = pytester.runpytest_subprocess("--gridgate-summary=s.md")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()

    html = MarkdownIt("commonmark").enable("table").render((pytester.path / "s.md").read_text())
    codes = re.findall(r"<li><code>(.*?)</code>", html)
    assert any("test_leaks_env[a|b]" in code for code in codes), html
    assert "\\|" not in "".join(codes)
    (hang,) = [code for code in codes if "test_hangs_with_a_child" in code]
    assert "killed" not in hang  # the first line only: the rest is a block of its own
    blocks = re.findall(r"<pre><code[^>]*>(.*?)</code></pre>", html, re.DOTALL)
    assert any(re.search(r"^\s*killed pid \d+ ", b, re.MULTILINE) for b in blocks), html


def test_terminal_details_keep_their_lines_under_them(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_md=PIPES_AND_HANGS)
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    lines = result.stdout.lines
    at = next(i for i, line in enumerate(lines) if line.startswith("    TIMEOUT "))
    assert "test_hangs_with_a_child" in lines[at]
    assert re.match(r"^ {8}killed pid \d+ ", lines[at + 1]), lines[at : at + 2]
