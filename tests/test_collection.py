"""The collection gate: every collection error fails the run with exit 2."""

from __future__ import annotations

import json
from typing import Any

import pytest

EXITS_AT_IMPORT = """
import sys

try:
    import gg_optional_dependency_that_is_missing
except ImportError:
    sys.exit(1)

def test_never_collected():
    pass
"""

PASSING = """
def test_one():
    pass

def test_two():
    pass
"""


def _report(pytester: pytest.Pytester) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((pytester.path / "r.json").read_text())
    return data


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["single", "xdist"])
def test_sys_exit_at_import_is_a_collection_error(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    pytester.makepyfile(test_exits=EXITS_AT_IMPORT, test_ok=PASSING)
    result = pytester.runpytest_subprocess(*xdist, "--gridgate-report=r.json")

    assert result.ret == pytest.ExitCode.INTERRUPTED
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output
    assert "SystemExit" not in output.replace("SystemExit(1) at import", "")
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting test_exits.py*",
            "test_exits.py:*: in <module>",
            "E   SystemExit(1) at import of test_exits.py",
            "FAIL collection *1 collection error",
            "    test_exits.py: SystemExit(1) at import of test_exits.py",
        ]
    )
    report = _report(pytester)
    assert report["collection_errors"] == [
        {"nodeid": "test_exits.py", "message": "SystemExit(1) at import of test_exits.py"}
    ]
    assert report["exit_code"] == 2
    assert report["outcome"] == "failed"
    # Under xdist the other module's tests still run; in one process collection stops.
    assert report["counts"]["passed"] == (2 if xdist else 0)


@pytest.mark.parametrize(
    "args",
    [["-n", "2"], ["--continue-on-collection-errors"]],
    ids=["xdist", "continue-on-collection-errors"],
)
def test_import_error_fails_even_when_the_rest_runs(
    pytester: pytest.Pytester, args: list[str]
) -> None:
    pytester.makepyfile(test_broken="import gg_missing_module\n", test_ok=PASSING)
    result = pytester.runpytest_subprocess(*args, "--gridgate-report=r.json")

    # pytest alone: the remaining tests pass and the run exits 1.
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(passed=2, errors=1)
    report = _report(pytester)
    assert report["collection_errors"] == [
        {
            "nodeid": "test_broken.py",
            "message": "ModuleNotFoundError: No module named 'gg_missing_module'",
        }
    ]
    assert report["counts"]["collected"] == 2


def test_sys_exit_in_a_conftest_and_a_test(pytester: pytest.Pytester) -> None:
    pytester.mkpydir("sub")
    pytester.path.joinpath("sub", "conftest.py").write_text("import sys\nsys.exit(3)\n")
    pytester.path.joinpath("sub", "test_sub.py").write_text(PASSING)
    pytester.makepyfile(
        test_exit_in_test="""
        import sys

        def test_exits():
            sys.exit(0)
        """
    )
    result = pytester.runpytest_subprocess("--continue-on-collection-errors", "-rf")

    assert result.ret == pytest.ExitCode.INTERRUPTED
    # A sys.exit() inside a test stays what pytest makes of it: a failed test.
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(["    sub: SystemExit(3) at import of sub/conftest.py"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize(
    ("config", "files", "args", "ret", "message"),
    [
        ("", {}, [], 2, "0 tests collected, fewer than collection.min_tests = 1"),
        ("min_tests = 3", {"test_ok": PASSING}, [], 2, "2 tests collected, fewer than*= 3"),
        ("min_tests = 0", {}, [], 5, None),
        ("", {"test_ok": PASSING}, ["-k", "nothing_matches"], 2, "no tests selected to run*"),
        ("min_tests = 2", {"test_ok": PASSING}, ["-k", "one"], 0, None),
    ],
    ids=["empty", "too-few", "disabled", "all-deselected", "counted-before-deselection"],
)
def test_min_tests(
    pytester: pytest.Pytester,
    config: str,
    files: dict[str, str],
    args: list[str],
    ret: int,
    message: str | None,
) -> None:
    pytester.makepyprojecttoml(f"[tool.gridgate.collection]\n{config}\n")
    if files:
        pytester.makepyfile(**files)
    result = pytester.runpytest_subprocess(*args)

    assert result.ret == ret
    if message is not None:
        result.stdout.fnmatch_lines([f"FAIL collection *{message}"])
    else:
        result.stdout.no_fnmatch_line("FAIL collection*")


def test_min_tests_counts_every_worker_collection(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.gridgate.collection]\nmin_tests = 3\n")
    pytester.makepyfile(test_ok=PASSING)
    result = pytester.runpytest_subprocess("-n", "2", "-k", "one", "--gridgate-report=r.json")

    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["FAIL collection *2 tests collected, fewer than*= 3"])
    counts = _report(pytester)["counts"]
    assert (counts["collected"], counts["deselected"], counts["passed"]) == (2, 1, 1)
