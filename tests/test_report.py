"""The gate report: terminal section, JSON v1 and Markdown, on one process and under xdist."""

from __future__ import annotations

import json
import re
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
    # The stand-in's "leaks" verdict, then the real timeouts and leaks gates'.
    assert gates == ["collection", "tests", "leaks", "timeouts", "leaks"]


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
