"""The flaky gate: reruns that hide nothing and new tests that must prove themselves.

Real inner pytest runs (subprocesses), plain and under xdist with ``--dist load`` and
``--dist loadscope``. A test fails "on its first attempt only" through a counter kept in a
file next to it, so the outcome is the same in whichever process runs it.
"""

from __future__ import annotations

import json
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

DIST = {
    "plain": (),
    "load": ("-n", "2", "--dist", "load"),
    "loadscope": ("-n", "2", "--dist", "loadscope"),
}

# Fails on the attempts listed in FAIL_ON (1-based), counted in a file: the same in any
# process, and each attempt really runs the test again.
COUNTED = """
import pathlib

import pytest

def attempt(name):
    counter = pathlib.Path(__file__).with_name(f"{name}.count")
    n = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(n))
    return n
"""

FLAKY_SUITE = (
    COUNTED
    + """
@pytest.fixture
def connection():
    # Every attempt gets its own function-scoped fixture.
    yield attempt("fixture")

def test_flaky(connection):
    assert attempt("flaky") > 1, "first attempt fails"

def test_steady_1():
    pass

def test_steady_2():
    pass

def test_steady_3():
    pass
"""
)


def run(
    pytester: pytest.Pytester, *args: str, config: str
) -> tuple[pytest.RunResult, dict[str, Any]]:
    pytester.makepyprojecttoml(textwrap.dedent(config))
    result = pytester.runpytest_subprocess(
        *args, "-p", "no:cacheprovider", "--gridgate-report", "r.json", timeout=300
    )
    report: dict[str, Any] = json.loads((pytester.path / "r.json").read_text())
    assert report["exit_code"] == result.ret, result.stdout.str()
    return result, report


def gate(report: dict[str, Any], name: str = "flaky") -> dict[str, Any]:
    [found] = [g for g in report["gates"] if g["gate"] == name]
    assert isinstance(found, dict)
    return found


@pytest.mark.parametrize("dist", sorted(DIST))
@pytest.mark.parametrize("action", ["warn", "fail"])
def test_fails_first_attempt_only_is_flaky(
    pytester: pytest.Pytester, dist: str, action: str
) -> None:
    pytester.makepyfile(test_suite=FLAKY_SUITE)
    config = f"""
        [tool.gridgate.flaky]
        reruns = 2
        max_rate = 0.5
        action = "{action}"
    """
    result, report = run(pytester, *DIST[dist], "--junitxml", "junit.xml", config=config)
    # pytest counts the flaky test as passed; its failed attempt is a rerun, not hidden.
    assert report["counts"]["passed"] == 4
    assert report["counts"]["failed"] == 0
    assert report["counts"]["rerun"] == 1
    result.stdout.fnmatch_lines(["*4 passed, 1 rerun*"])
    [entry] = report["flaky"]
    assert entry["nodeid"] == "test_suite.py::test_flaky"
    assert (entry["outcome"], entry["new"], entry["runs"]) == ("flaky", False, 2)
    first, second = entry["attempts"]
    assert (first["outcome"], first["category"], first["when"]) == ("failed", "assertion", "call")
    assert first["message"] == "first attempt fails"
    assert second["outcome"] == "passed"
    assert (pytester.path / "fixture.count").read_text() == "2"
    assert report["failures"] == []  # nothing failed in the end
    verdict = gate(report)
    assert verdict["summary"].startswith("1 flaky of 4 tests run (25.0%")
    if action == "warn":
        assert result.ret == 0
        assert verdict["passed"]
        assert "(warn only)" in verdict["summary"]
    else:
        assert result.ret == 1
        assert not verdict["passed"]
    # JUnit as Maven Surefire writes it: the test case passed, with its flaky failure.
    case = ET.parse(pytester.path / "junit.xml").getroot().find(".//testcase[@name='test_flaky']")
    assert case is not None
    assert [child.tag for child in case] == ["flakyFailure"]
    flaky = case.find("flakyFailure")
    assert flaky is not None
    assert flaky.get("type") == "AssertionError"
    assert "first attempt fails" in (flaky.findtext("stackTrace") or "")


@pytest.mark.parametrize("dist", ["plain", "loadscope"])
def test_failing_every_attempt_lists_every_attempt(pytester: pytest.Pytester, dist: str) -> None:
    pytester.makepyfile(
        test_suite="""
        import pytest

        def test_broken():
            raise ValueError("always broken")

        def test_fine():
            pass
        """
    )
    result, report = run(
        pytester,
        *DIST[dist],
        "--junitxml",
        "junit.xml",
        config="[tool.gridgate.flaky]\nreruns = 2\n",
    )
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*1 failed, 1 passed, 2 rerun*"])
    [entry] = report["flaky"]
    assert (entry["outcome"], entry["runs"]) == ("failed", 3)
    assert [a["attempt"] for a in entry["attempts"]] == [1, 2, 3]
    assert {(a["outcome"], a["category"], a["exception"]) for a in entry["attempts"]} == {
        ("failed", "exception", "ValueError")
    }
    [failure] = report["failures"]
    assert (failure["nodeid"], failure["category"]) == ("test_suite.py::test_broken", "exception")
    verdict = gate(report)
    assert "1 failed every attempt" in verdict["summary"]
    assert any("failed every attempt, 3 runs" in d for d in verdict["details"])
    case = ET.parse(pytester.path / "junit.xml").getroot().find(".//testcase[@name='test_broken']")
    assert case is not None
    assert [child.tag for child in case] == ["failure", "rerunFailure", "rerunFailure"]
    assert len(ET.parse(pytester.path / "junit.xml").getroot().findall(".//testcase")) == 2


@pytest.mark.parametrize("dist", ["plain", "loadscope"])
def test_max_rate_fails_the_gate(pytester: pytest.Pytester, dist: str) -> None:
    pytester.makepyfile(test_suite=FLAKY_SUITE)
    # 1 flaky of 4 is 25 %, over the default 5 %: the gate fails although action = warn.
    result, report = run(pytester, *DIST[dist], config="[tool.gridgate.flaky]\nreruns = 1\n")
    assert result.ret == 1
    verdict = gate(report)
    assert not verdict["passed"]
    assert "over the limit" in verdict["summary"]
    assert "test_suite.py::test_flaky: flaky, 2 runs" in verdict["details"][0]
    result.stdout.re_match_lines(
        [r"FAIL flaky +1 flaky of 4 tests run \(25.0%; flaky.max_rate 5.0%\)"]
    )


def test_each_attempt_has_its_own_timeout(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_hang=COUNTED
        + """
import time

@pytest.mark.timeout(1)
def test_hangs_once():
    if attempt("hang") == 1:
        time.sleep(60)
"""
    )
    result, report = run(pytester, config="[tool.gridgate.flaky]\nreruns = 1\nmax_rate = 1.0\n")
    assert result.ret == 0, result.stdout.str()
    [entry] = report["flaky"]
    assert [a.get("category") for a in entry["attempts"]] == ["timeout", None]
    # The timeouts gate recorded the timed-out attempt too.
    assert [t["nodeid"] for t in report["timeouts"]] == ["test_hang.py::test_hangs_once"]


def test_categories_not_worth_a_rerun(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_suite="""
        import threading

        STOP = threading.Event()

        def test_leaks_a_thread():
            threading.Thread(target=STOP.wait, args=(20,), name="left").start()

        def test_asserts():
            assert 1 == 2
        """
    )
    config = """
        [tool.gridgate.leaks]
        grace = 0.1
        [tool.gridgate.flaky]
        reruns = 2
        rerun_categories = ["exception"]
    """
    result, report = run(pytester, config=config)
    assert result.ret == 1
    assert report["counts"].get("rerun", 0) == 0  # a leak and an assertion: not rerun
    assert report["flaky"] == []
    assert {e["category"] for e in report["failures"]} == {"leak", "assertion"}


# ----------------------------------------------------------------------- new-test repeats

NEW_SUITE = (
    COUNTED
    + """
def test_new_and_unstable():
    # Fails on every third attempt, starting with the second: 1 in 3.
    assert attempt("unstable") % 3 != 2, "lost a race"

def test_new_and_stable():
    attempt("stable")

def test_known():
    attempt("known")
"""
)


@pytest.mark.parametrize("dist", ["plain", "loadscope"])
def test_new_tests_are_repeated(pytester: pytest.Pytester, dist: str) -> None:
    pytester.makepyfile(test_suite=NEW_SUITE)
    (pytester.path / "known.txt").write_text("# tests with a history\ntest_suite.py::test_known\n")
    config = "[tool.gridgate.flaky]\nnew_test_runs = 5\nmax_rate = 1.0\n"
    result, report = run(pytester, *DIST[dist], "--gridgate-known", "known.txt", config=config)
    assert result.ret == 0, result.stdout.str()
    assert (pytester.path / "unstable.count").read_text() == "5"
    assert (pytester.path / "stable.count").read_text() == "5"
    assert (pytester.path / "known.count").read_text() == "1"  # a known test is not repeated
    [entry] = report["flaky"]
    assert entry["nodeid"] == "test_suite.py::test_new_and_unstable"
    assert (entry["outcome"], entry["new"], entry["runs"]) == ("flaky", True, 5)
    outcomes = [a["outcome"] for a in entry["attempts"]]
    assert outcomes == ["passed", "failed", "passed", "passed", "failed"]
    assert report["new_tests"] == [
        {"nodeid": "test_suite.py::test_new_and_stable", "runs": 5, "outcome": "passed"}
    ]
    summary = gate(report)["summary"]
    assert "2 new test(s) run up to 5 times" in summary
    assert any("(new test), 5 runs" in d for d in gate(report)["details"])


def test_durations_file_says_which_tests_are_known(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=NEW_SUITE)
    (pytester.path / "durations.json").write_text(
        json.dumps({"test_suite.py::test_known": 0.1, "test_suite.py::test_new_and_stable": 0.1})
    )
    config = """
        [tool.gridgate.shard]
        durations = "durations.json"
        [tool.gridgate.flaky]
        new_test_runs = 3
        max_rate = 1.0
    """
    _, report = run(pytester, config=config)
    assert (pytester.path / "unstable.count").read_text() == "3"
    assert (pytester.path / "stable.count").read_text() == "1"
    assert (pytester.path / "known.count").read_text() == "1"
    [entry] = report["flaky"]
    assert entry["new"]


def test_new_test_budget_caps_the_repeats(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_slow="""
        import time

        def test_new_and_slow():
            time.sleep(0.3)
        """
    )
    (pytester.path / "known.txt").write_text("")
    config = "[tool.gridgate.flaky]\nnew_test_runs = 50\nnew_test_budget = 0.5\n"
    result, report = run(pytester, "--gridgate-known", "known.txt", config=config)
    assert result.ret == 0
    [entry] = report["new_tests"]
    # The first run is the test's own; repeats stop once 0.5 s of them are spent.
    assert 2 <= entry["runs"] <= 3
    assert entry["stopped"] == "new_test_budget spent"


def test_no_history_means_no_new_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=NEW_SUITE)
    _, report = run(pytester, config="[tool.gridgate.flaky]\nnew_test_runs = 5\n")
    assert (pytester.path / "unstable.count").read_text() == "1"
    assert "no test is new" in gate(report)["summary"]


def test_unreadable_known_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok(): pass\n")
    pytester.makepyprojecttoml("[tool.gridgate.flaky]\nnew_test_runs = 2\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--gridgate-known", "nope.txt")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: gridgate: --gridgate-known: cannot read *nope.txt*"])


def test_off_by_default(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=FLAKY_SUITE)
    result, report = run(pytester, config="[tool.gridgate]\n")
    assert result.ret == 1
    assert report["flaky"] == []
    assert gate(report)["summary"].startswith("reruns off")


def test_example_project_has_a_flaky_test(pytester: pytest.Pytester) -> None:
    examples = Path(__file__).parent.parent / "examples"
    pytester.makepyfile(test_flaky_demo=(examples / "tests" / "test_flaky_demo.py").read_text())
    table = tomllib.loads((examples / "pyproject.toml").read_text())["tool"]["gridgate"]["flaky"]
    config = "[tool.gridgate.flaky]\n" + "".join(
        f"{k} = {json.dumps(v)}\n" for k, v in table.items()
    )
    result, report = run(pytester, "-n", "2", config=config)
    assert result.ret == 1
    [entry] = report["flaky"]
    assert entry["outcome"] == "flaky"
    assert not gate(report)["passed"]


def test_reruns_counted_without_the_terminal_reporter(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=FLAKY_SUITE)
    config = "[tool.gridgate.flaky]\nreruns = 1\nmax_rate = 1.0\n"
    result, report = run(pytester, "-p", "no:terminal", config=config)
    assert result.ret == 0
    # A failed attempt is a rerun, not a passed test, in gridgate's own tally too.
    assert (report["counts"]["passed"], report["counts"]["rerun"]) == (4, 1)


def test_every_attempt_is_checked_for_leaks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_leak=COUNTED
        + """
import threading

STOP = threading.Event()

def test_leaks_and_fails_once():
    threading.Thread(target=STOP.wait, args=(20,), name=f"left-{attempt('leak')}").start()
    assert attempt("fail") > 1
"""
    )
    config = """
        [tool.gridgate.leaks]
        action = "warn"
        grace = 0.1
        [tool.gridgate.flaky]
        reruns = 1
        max_rate = 1.0
    """
    result, report = run(pytester, "-n", "2", config=config)
    assert result.ret == 0, result.stdout.str()
    assert report["flaky"][0]["outcome"] == "flaky"
    # The failed attempt's leak is kept (on its rerun report), next to the second one's.
    leaked = sorted(e["detail"].split("'")[1] for e in report["leaks"])
    assert leaked == ["left-1", "left-2"], report["leaks"]


def test_rerun_gets_a_fresh_instance_and_its_own_output(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_class=COUNTED
        + """
class TestCart:
    items = ()

    def test_total(self):
        n = attempt("cart")
        print(f"attempt {n} output")
        assert self.items == (), "state from the failed attempt"
        self.items = ("left over",)
        assert n > 1
"""
    )
    config = "[tool.gridgate.flaky]\nreruns = 1\nmax_rate = 1.0\n"
    result, report = run(pytester, "-rA", config=config)
    assert result.ret == 0, result.stdout.str()
    assert [a["outcome"] for a in report["flaky"][0]["attempts"]] == ["failed", "passed"]
    passes = result.stdout.str().split("PASSES", 1)[1]
    assert "attempt 2 output" in passes
    assert "attempt 1 output" not in passes


def test_new_test_that_skips_runs_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_skip=COUNTED
        + """
def test_new_but_skipped():
    attempt("skipped")
    pytest.skip("not on this platform")
"""
    )
    (pytester.path / "known.txt").write_text("")
    config = "[tool.gridgate.flaky]\nnew_test_runs = 5\n"
    result, report = run(pytester, "--gridgate-known", "known.txt", config=config)
    assert result.ret == 0
    assert (pytester.path / "skipped.count").read_text() == "1"
    assert report["new_tests"] == [
        {"nodeid": "test_skip.py::test_new_but_skipped", "runs": 1, "outcome": "skipped"}
    ]
