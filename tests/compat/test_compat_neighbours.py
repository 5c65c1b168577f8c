"""Where another plugin's settings and gridgate's cannot both hold, the run says so.

One line at start-up (in the session header; under ``-q`` on its own) and the gate report's
``neighbours`` verdict and section, never silently; and nothing at all where the two agree.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

PASSING = "def test_ok():\n    pass\n"


def _run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    result = pytester.runpytest_subprocess(
        *args, "-p", "no:cacheprovider", "--gridgate-report", "r.json"
    )
    return result, json.loads((pytester.path / "r.json").read_text())


def _said(result: pytest.RunResult, report: dict[str, Any]) -> list[str]:
    """The conflicts of the report, checked to be the start-up lines too."""
    entries = report.get("neighbours", [])
    lines = [f"gridgate: {entry['plugin']}: {entry['message']}" for entry in entries]
    out = result.stdout.lines
    for line in lines:
        assert line in out, result.stdout.str()
    verdicts = [gate for gate in report["gates"] if gate["gate"] == "neighbours"]
    if entries:
        [verdict] = verdicts
        assert verdict["details"] == [line.removeprefix("gridgate: ") for line in lines]
    else:
        assert verdicts == []
    return [entry["message"] for entry in entries]


@pytest.mark.parametrize(
    ("ini", "args", "expected"),
    [
        ("timeout = 30", (), "ini option timeout = 30 replaces timeouts.default (60 s)"),
        ("", ("--timeout=0",), "--timeout=0 switches per-test timeouts off"),
        ("", ("--timeout=5",), "--timeout=5 replaces timeouts.default (60 s)"),
        ("timeout_method = thread", (), "timeout_method = thread: a timed-out test ends"),
        ("timeout_func_only = true", (), "timeout_func_only = true: fixtures'"),
        ("", ("-p", "no:timeout"), "pytest-timeout is switched off (-p no:timeout)"),
        ("session_timeout = 900", (), "ini option session_timeout = 900 and timeouts.session"),
        ("", ("--session-timeout=900",), "--session-timeout=900 and timeouts.session"),
    ],
)
def test_pytest_timeout_options(
    pytester: pytest.Pytester, ini: str, args: tuple[str, ...], expected: str
) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(test_a=PASSING)
    result, report = _run(pytester, *args)
    [message] = _said(result, report)
    assert message.startswith(expected), message
    assert result.ret == 0


def test_agreeing_settings_say_nothing(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest-timeout's ini equal to gridgate's default, a variable set by the shell (kept,
    as documented): no conflict, no line, no verdict."""
    pytester.makeini("[pytest]\ntimeout = 60\n")
    pytester.makepyprojecttoml('[tool.gridgate.env]\nFROM_SHELL = "gridgate"\n')
    monkeypatch.setenv("FROM_SHELL", "shell")
    pytester.makepyfile(test_a=PASSING)
    result, report = _run(pytester)
    assert _said(result, report) == []
    assert report["env"]["kept"] == ["FROM_SHELL"]
    assert "gridgate: pytest" not in result.stdout.str()


ENV_PROJECT = """
[tool.pytest.ini_options]
env = ["DATABASE_URL=from-pytest-env", "FORCED=from-pytest-env"]

[tool.gridgate.env]
DATABASE_URL = "sqlite://"
UNTOUCHED = "gridgate"

[tool.gridgate.env_force]
FORCED = "gridgate"
"""

ENV_TESTS = """
import os

def test_values():
    assert os.environ["DATABASE_URL"] == "from-pytest-env"
    assert os.environ["FORCED"] == "gridgate"
    assert os.environ["UNTOUCHED"] == "gridgate"
"""


@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["one-process", "xdist"])
def test_pytest_env_beats_gridgate_env(
    pytester: pytest.Pytester,
    installed: Callable[[str, str], None],
    xdist: tuple[str, ...],
) -> None:
    installed("pytest-env>=1.1", "pytest_env")
    pytester.makepyprojecttoml(ENV_PROJECT)
    pytester.makepyfile(test_env=ENV_TESTS)
    result, report = _run(pytester, *xdist)
    messages = _said(result, report)
    assert messages == [
        "DATABASE_URL set by pytest-env before gridgate: its value wins over "
        "[tool.gridgate.env] (move the name to [tool.gridgate.env_force] for gridgate's, "
        "or drop it from one of the two)",
        "FORCED set by pytest-env, then replaced by [tool.gridgate.env_force] "
        "(drop it from one of the two)",
    ]
    assert report["neighbours"][0]["plugin"].startswith("pytest-env ")
    # Names only: no value of either side is shown.
    assert "from-pytest-env" not in result.stdout.str()
    assert "from-pytest-env" not in json.dumps(report)
    result.assert_outcomes(passed=1)


def test_quiet_run_says_it_on_a_line_of_its_own(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntimeout = 30\n")
    pytester.makepyfile(test_a=PASSING)
    result, report = _run(pytester, "-q")
    assert _said(result, report)
    # ... and scripts parsing -qq or --co -q output get nothing extra.
    for args in (("-qq",), ("--co", "-q")):
        quiet, _ = _run(pytester, *args)
        assert "gridgate: pytest-timeout" not in quiet.stdout.str(), args


@pytest.mark.parametrize("reruns", [0, 2])
def test_rerunfailures_reruns(
    pytester: pytest.Pytester, installed: Callable[[str, str], None], reruns: int
) -> None:
    installed("pytest-rerunfailures>=14", "pytest_rerunfailures")
    pytester.makepyfile(test_a=PASSING)
    result, report = _run(pytester, "--reruns", str(reruns))
    if reruns:
        assert _said(result, report) == [
            "--reruns 2: a test that leaks or times out runs again, and a clean later attempt "
            "passes the run; every attempt's leaks and timeouts stay in the report"
        ]
    else:
        assert _said(result, report) == []
