"""The quarantine gate, through real runs with a real ``.gridgate/quarantine.toml``."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest

SUITE = """
def test_known_bug():
    assert 2 + 2 == 5, "rounding bug"

def test_fixed_since():
    pass

def test_unrelated():
    pass
"""


def quarantine(pytester: pytest.Pytester, text: str) -> None:
    folder = pytester.path / ".gridgate"
    folder.mkdir(exist_ok=True)
    (folder / "quarantine.toml").write_text(textwrap.dedent(text))


def entry(nodeid: str, until: str = "2099-12-31", reason: str = "BUG-1") -> str:
    return f'[[test]]\nnodeid = "{nodeid}"\nreason = "{reason}"\nuntil = {until}\n\n'


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    pytester.makepyprojecttoml("[tool.gridgate]\n")
    result = pytester.runpytest_subprocess(
        *args, "-p", "no:cacheprovider", "--gridgate-report", "r.json", timeout=300
    )
    report: dict[str, Any] = json.loads((pytester.path / "r.json").read_text())
    assert report["exit_code"] == result.ret, result.stdout.str()
    return result, report


def gate(report: dict[str, Any]) -> dict[str, Any]:
    [found] = [g for g in report["gates"] if g["gate"] == "quarantine"]
    assert isinstance(found, dict)
    return found


@pytest.mark.parametrize("workers", [(), ("-n", "2")])
def test_quarantined_failure_is_reported_and_tolerated(
    pytester: pytest.Pytester, workers: tuple[str, ...]
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    quarantine(pytester, entry("test_suite.py::test_known_bug"))
    result, report = run(pytester, *workers)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*2 passed, 1 xfailed*"])
    [found] = report["quarantine"]
    assert (found["status"], found["expired"], found["until"]) == ("failed", False, "2099-12-31")
    [failure] = found["failures"]
    assert (failure["category"], failure["message"]) == ("assertion", "rounding bug")
    # The failure is in the failures section too, with its category, marked quarantined.
    [categorised] = report["failures"]
    assert categorised["category"] == "assertion"
    assert categorised["quarantined"] is True
    verdict = gate(report)
    assert verdict["passed"]
    assert "failed (assertion): test_suite.py::test_known_bug: rounding bug" in verdict["details"]


def test_expired_entry_fails_the_gate(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    quarantine(pytester, entry("test_suite.py::test_fixed_since", until="2020-01-31"))
    result, report = run(pytester)
    # Every test passed, but the entry is past its date: the gate fails, naming it.
    assert result.ret == 1
    verdict = gate(report)
    assert not verdict["passed"]
    assert verdict["summary"].startswith("1 expired;")
    assert "EXPIRED test_suite.py::test_fixed_since: until 2020-01-31, BUG-1" in verdict["details"]
    result.stdout.fnmatch_lines(["FAIL quarantine*1 expired*"])


def test_expired_entry_tolerates_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    quarantine(pytester, entry("test_suite.py::test_known_bug", until="2020-01-31"))
    result, report = run(pytester)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*1 failed, 2 passed*"])
    assert report["quarantine"][0]["status"] == "failed"
    assert "quarantined" not in report["failures"][0]


def test_stale_and_passing_entries(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    quarantine(
        pytester,
        entry("test_suite.py::test_fixed_since") + entry("test_suite.py::test_renamed_long_ago"),
    )
    result, report = run(pytester, "-n", "2")
    assert result.ret == 1  # test_known_bug is not quarantined here
    statuses = {e["nodeid"]: e["status"] for e in report["quarantine"]}
    assert statuses == {
        "test_suite.py::test_fixed_since": "passed",
        "test_suite.py::test_renamed_long_ago": "stale",
    }
    details = gate(report)["details"]
    assert "can leave quarantine (passed): test_suite.py::test_fixed_since" in details
    assert "stale (no such test): test_suite.py::test_renamed_long_ago" in details


def test_entry_for_a_parametrized_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_params="""
        import pytest

        @pytest.mark.parametrize("n", [1, 2, 3])
        def test_even(n):
            assert n % 2 == 0
        """
    )
    quarantine(pytester, entry("test_params.py::test_even"))
    result, report = run(pytester)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*1 passed, 2 xfailed*"])
    [found] = report["quarantine"]
    assert [f["nodeid"] for f in found["failures"]] == [
        "test_params.py::test_even[1]",
        "test_params.py::test_even[3]",
    ]


MALFORMED = {
    "invalid TOML": (
        '[[test]]\nnodeid = "a"\nreason = \n',
        3,
        "invalid TOML: Invalid value",
    ),
    "unknown key": (
        entry("test_suite.py::test_known_bug") + '[[test]]\nnodeid = "b"\nreason = "r"\n'
        "until = 2099-01-01\nowner = 'me'\n",
        10,
        "unknown key 'owner' (known: nodeid, reason, until)",
    ),
    "missing key": (
        '[[test]]\nnodeid = "a"\nuntil = 2099-01-01\n',
        1,
        "[[test]] 1: reason is missing",
    ),
    "bad date": (
        entry("a") + '[[test]]\nnodeid = "b"\nreason = "r"\nuntil = "next week"\n',
        9,
        "until: expected a date like 2027-01-31, got 'next week'",
    ),
    "twice": (
        entry("a") + entry("a"),
        7,
        "a is quarantined twice (also line 2)",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_file_is_a_usage_error(pytester: pytest.Pytester, case: str) -> None:
    text, line, problem = MALFORMED[case]
    pytester.makepyfile(test_suite=SUITE)
    pytester.makeconftest("raise SystemExit('conftest imported')")  # must never happen
    quarantine(pytester, text)
    pytester.makepyprojecttoml("[tool.gridgate]\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    lines = [line for line in result.stderr.lines if line.startswith("ERROR: gridgate")]
    assert lines == [f"ERROR: gridgate: .gridgate/quarantine.toml: line {line}: {problem}"]
    assert "Traceback" not in result.stderr.str()


def test_file_option_and_setting(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    (pytester.path / "elsewhere.toml").write_text(entry("test_suite.py::test_known_bug"))
    result, report = run(pytester, "--gridgate-quarantine", "elsewhere.toml")
    assert result.ret == 0
    assert "in elsewhere.toml" in gate(report)["summary"]
    # No file: no quarantine, and the verdict says where it looked.
    result, report = run(pytester)
    assert result.ret == 1
    assert gate(report)["summary"] == "no quarantined tests (.gridgate/quarantine.toml not found)"


def test_quarantined_test_is_not_rerun(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_suite="""
        import pathlib

        def test_known_bug():
            counter = pathlib.Path(__file__).with_name("attempts")
            counter.write_text(counter.read_text() + "x" if counter.exists() else "x")
            assert False, "still broken"
        """
    )
    quarantine(pytester, entry("test_suite.py::test_known_bug"))
    pytester.makepyprojecttoml("[tool.gridgate.flaky]\nreruns = 2\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    assert result.ret == 0, result.stdout.str()
    assert (pytester.path / "attempts").read_text() == "x"
    result.stdout.fnmatch_lines(["*1 xfailed*"])
