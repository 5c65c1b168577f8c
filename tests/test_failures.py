"""The failures gate: every failure gets exactly one category, decided in a real run.

One inner pytest run per category (a subprocess: crashes, timeouts and leaks must be the
inner run's own), each a test that fails one way; the category is read from the JSON
report's ``failures`` section, and the terminal and Markdown show it.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

ENTRY_KEYS = {"nodeid", "when", "category", "exception", "message"}


def run(
    pytester: pytest.Pytester, *args: str, config: str = ""
) -> tuple[pytest.RunResult, dict[str, Any]]:
    if config:
        pytester.makepyprojecttoml(textwrap.dedent(config))
    result = pytester.runpytest_subprocess(
        *args,
        "-p",
        "no:cacheprovider",
        "--gridgate-report",
        "r.json",
        "--gridgate-summary",
        "s.md",
        timeout=300,
    )
    report: dict[str, Any] = json.loads((pytester.path / "r.json").read_text())
    assert report["exit_code"] == result.ret, result.stdout.str()
    for entry in report.get("failures", []):
        assert set(entry) >= ENTRY_KEYS, entry
    return result, report


def gate(report: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [g for g in report["gates"] if g["gate"] == name]
    assert isinstance(found, dict)
    return found


ZOO: dict[str, tuple[str, str, str, str]] = {
    # category: (test module, config, expected "when", expected exception); MESSAGES below
    "assertion": (
        """
        def test_zoo():
            assert 1 + 1 == 3
        """,
        "",
        "call",
        "AssertionError",
    ),
    "exception": (
        """
        def test_zoo():
            {}["missing"]
        """,
        "",
        "call",
        "KeyError",
    ),
    "setup": (
        """
        import pytest

        @pytest.fixture
        def database():
            raise RuntimeError("schema missing")

        def test_zoo(database):
            pass
        """,
        "",
        "setup",
        "RuntimeError",
    ),
    "teardown": (
        """
        import pytest

        @pytest.fixture
        def resource():
            yield
            raise ValueError("could not close")

        def test_zoo(resource):
            pass
        """,
        "",
        "teardown",
        "ValueError",
    ),
    "timeout": (
        """
        import time
        import pytest

        @pytest.mark.timeout(0.5)
        def test_zoo():
            time.sleep(30)
        """,
        "",
        "call",
        "Failed",
    ),
    "leak": (
        """
        import threading

        STOP = threading.Event()

        def test_zoo():
            threading.Thread(target=STOP.wait, args=(20,), name="left-behind").start()
        """,
        "[tool.gridgate.leaks]\ngrace = 0.1\n",
        "teardown",
        "",
    ),
    "memory": (
        """
        def test_zoo():
            data = b"x" * 80_000_000
            del data
        """,
        '[tool.gridgate.memory]\nlimit = "20MB"\n',
        "teardown",
        "",
    ),
    "crash": (
        """
        import os

        def test_zoo():
            os._exit(3)
        """,
        "",
        "call",
        "",
    ),
    "infra": (
        """
        import socket

        def test_zoo():
            # A port that was free a moment ago and is closed now: the connection is refused.
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
            probe.close()
            socket.create_connection(("127.0.0.1", port), timeout=5)
        """,
        "",
        "call",
        "ConnectionRefusedError",
    ),
}


# A fragment of each zoo test's message: what the failure says, not a worker's banner.
MESSAGES = {
    "assertion": "assert (1 + 1) == 3",
    "exception": "'missing'",
    "setup": "schema missing",
    "teardown": "could not close",
    "timeout": "Timeout (>0.5s)",
    "leak": "left-behind",
    "memory": "over the limit",
    "crash": "crashed while running",
    "infra": "Connection refused",
}


@pytest.mark.parametrize("category", sorted(ZOO))
def test_zoo_category(pytester: pytest.Pytester, category: str) -> None:
    source, config, when, exception = ZOO[category]
    pytester.makepyfile(test_zoo=textwrap.dedent(source))
    # Under xdist, as CI runs: the worker's findings must reach the controller, and a
    # worker that dies (crash) is only seen there.
    result, report = run(pytester, "-n", "2", config=config or "[tool.gridgate]\n")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    [entry] = report["failures"]
    assert entry["nodeid"] == "test_zoo.py::test_zoo"
    assert (entry["category"], entry["when"], entry["exception"]) == (category, when, exception)
    assert MESSAGES[category] in entry["message"], entry
    verdict = gate(report, "failures")
    assert not verdict["passed"]
    assert verdict["summary"] == f"1 failure(s): 1 {category}"
    result.stdout.re_match_lines([rf"FAIL failures +1 failure\(s\): 1 {category}$"])
    assert f"{category} (1):" in (pytester.path / "s.md").read_text()


def test_collection_error_is_categorised(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_broken="import not_installed_anywhere_xyz\n", test_fine="def test_ok(): pass\n"
    )
    result, report = run(pytester, "-n", "2", config="[tool.gridgate]\n")
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    [entry] = report["failures"]
    assert entry["category"] == "collection"
    assert entry["when"] == "collect"
    assert entry["nodeid"] == "test_broken.py"
    assert "not_installed_anywhere_xyz" in entry["message"]


def test_infra_patterns_are_configurable(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_vendor="""
        class ServiceUnavailable(Exception):
            pass

        def test_vendor():
            raise ServiceUnavailable("503 from the sandbox")

        def test_plain():
            raise RuntimeError("503 from the sandbox")

        def test_chained():
            try:
                raise ConnectionResetError(104, "Connection reset by peer")
            except OSError as exc:
                raise RuntimeError("client gave up") from exc
        """
    )
    config = "[tool.gridgate.failures]\ninfra = ['^test_vendor\\.ServiceUnavailable:']\n"
    _, report = run(pytester, config=config)
    categories = {e["nodeid"].split("::")[1]: e["category"] for e in report["failures"]}
    # The project's list replaces the defaults: a reset connection is an exception now.
    assert categories == {
        "test_vendor": "infra",
        "test_plain": "exception",
        "test_chained": "exception",
    }
    _, report = run(pytester, config="[tool.gridgate]\n")
    categories = {e["nodeid"].split("::")[1]: e["category"] for e in report["failures"]}
    # With the defaults, the reset connection behind the client's error is infra.
    assert categories["test_chained"] == "infra"
    assert categories["test_vendor"] == "exception"


def test_bad_infra_pattern_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.gridgate.failures]\ninfra = ['ok', '(unclosed']\n")
    pytester.makepyfile("def test_ok(): pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.re_match_lines(
        [r"ERROR: gridgate: pyproject.toml: failures.infra\[1\]: not a regular expression: "]
    )


def test_passing_run_has_an_empty_section(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok(): pass\n")
    result, report = run(pytester, config="[tool.gridgate]\n")
    assert result.ret == 0
    assert report["failures"] == []
    assert gate(report, "failures") == {
        "gate": "failures",
        "passed": True,
        "summary": "no failures",
        "details": [],
    }


def test_pytest_fail_and_skips(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_mixed="""
        import pytest

        def test_fail():
            pytest.fail("the order total is wrong")

        def test_skip():
            pytest.skip("not here")

        @pytest.mark.xfail(reason="known", strict=True)
        def test_xfail():
            raise ValueError("known bug")
        """
    )
    _, report = run(pytester, config="[tool.gridgate]\n")
    [entry] = report["failures"]
    assert entry["category"] == "assertion"
    assert entry["message"] == "the order total is wrong"


@pytest.mark.parametrize("xdist", [False, True], ids=["plain", "xdist"])
def test_every_failed_report_has_its_entry(pytester: pytest.Pytester, xdist: bool) -> None:
    # pytest 9's subtests fail the test that holds them when it reports the test's status,
    # after the first report hooks have run; a strict xfail that passed raised nothing.
    # Each counts as a failure, and each is in the section, whichever way it failed.
    pytester.makepyfile(
        test_kinds="""
        import pytest

        def test_subtests(request):
            subtests = request.getfixturevalue("subtests")
            for i in range(2):
                with subtests.test(i=i):
                    assert i == 0

        @pytest.mark.xfail(strict=True)
        def test_xpass():
            pass

        @pytest.fixture
        def broken():
            raise OSError("no such device")

        def test_broken_fixture(broken):
            pass
        """
    )
    if int(pytest.__version__.split(".")[0]) < 9:
        pytest.skip("pytest 9 has subtests built in")
    _, report = run(pytester, *(["-n", "2"] if xdist else []), config="[tool.gridgate]\n")
    entries = report["failures"]
    found = sorted((e["nodeid"].split("::")[1], e["when"], e["category"]) for e in entries)
    assert found == [
        ("test_broken_fixture", "setup", "setup"),
        ("test_subtests", "call", "assertion"),  # the subtest, from its exception
        ("test_subtests", "call", "exception"),  # the test, failed by its subtest
        ("test_xpass", "call", "exception"),
    ]
    assert report["counts"]["failed"] + report["counts"]["errors"] == len(found)


def test_docs_name_every_category() -> None:
    from pytest_gridgate.settings import FAILURE_CATEGORIES

    text = (Path(__file__).parent.parent / "docs" / "failures.md").read_text()
    for category in FAILURE_CATEGORIES:
        assert f"| `{category}` |" in text, category
