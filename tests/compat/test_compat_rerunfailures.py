"""Issue 20: with pytest-rerunfailures merely installed, descriptor and socket leaks went unseen.

The cause was not the plugin's hooks but a thread it starts: where xdist is installed,
pytest-rerunfailures runs a status server whose thread sits in ``accept()``, and Linux
reserves the descriptor number of the awaited connection before blocking. That number is
taken but not listed in ``/proc/self/fd``, so the fd check mistook where the listing's own
descriptor was, kept it as if open, and the next descriptor a test opened (with that very
number) was never new. The first test reproduces the mechanism with a thread of the
project's own; the second installs the real plugin beside gridgate and runs the issue's
example, with and without ``--reruns``.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

LEAKY_TESTS = """
    import socket

    _KEEP = []


    def test_leak_file():
        _KEEP.append(open(__file__))


    def test_leak_socket():
        _KEEP.append(socket.socket())


    def test_ok():
        pass
"""

EXPECTED_LEAKS = [
    ("test_leaky.py::test_leak_file", "fd"),
    ("test_leaky.py::test_leak_socket", "socket"),
]


def _leaks(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, list[Any]]:
    result = pytester.runpytest_subprocess(
        *args, "-p", "no:cacheprovider", "--gridgate-report", "r.json"
    )
    report = json.loads((pytester.path / "r.json").read_text())
    return result, [(entry["nodeid"], entry["kind"]) for entry in report["leaks"]]


def _project(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.gridgate.leaks]\naction = "fail"\n')
    pytester.makepyfile(test_leaky=textwrap.dedent(LEAKY_TESTS))


def test_leaks_seen_while_a_thread_waits_in_accept(pytester: pytest.Pytester) -> None:
    """A listening socket and a thread blocked in accept(), started before the first test
    (as any session-scoped server fixture does): every leak is still reported."""
    _project(pytester)
    pytester.makeconftest(
        """
        import socket
        import threading

        def pytest_configure(config):
            server = socket.socket()
            server.bind(("127.0.0.1", 0))
            server.listen()
            config._waiting_server = server
            threading.Thread(target=server.accept, name="gridgate-test-accept", daemon=True).start()
        """
    )
    result, leaks = _leaks(pytester, "-p", "no:rerunfailures")
    assert leaks == EXPECTED_LEAKS, result.stdout.str()
    result.assert_outcomes(passed=3, errors=2)


@pytest.mark.parametrize("reruns", [None, 2], ids=["installed", "reruns-2"])
def test_leaks_reported_with_rerunfailures_installed(
    pytester: pytest.Pytester,
    installed: Callable[[str, str], None],
    reruns: int | None,
) -> None:
    installed("pytest-rerunfailures>=14", "pytest_rerunfailures")
    _project(pytester)
    result, leaks = _leaks(pytester, *(("--reruns", str(reruns)) if reruns else ()))
    # The plugin is really loaded, from its entry point like any installed plugin.
    result.stdout.fnmatch_lines(["plugins: *rerunfailures-*"])
    if reruns is None:
        assert leaks == EXPECTED_LEAKS, result.stdout.str()
        result.assert_outcomes(passed=3, errors=2)
    else:
        # Each leaking test was rerun, and every attempt has its own verdict.
        assert leaks == [leak for leak in EXPECTED_LEAKS for _ in range(1 + reruns)], (
            result.stdout.str()
        )
        result.assert_outcomes(passed=3 + 2 * reruns, errors=2)
        assert result.parseoutcomes()["rerun"] == 2 * reruns
    assert result.ret == 1


def test_every_attempt_has_its_own_timeout(
    pytester: pytest.Pytester, installed: Callable[[str, str], None]
) -> None:
    """pytest-timeout arms once around all attempts: after a timed-out attempt the rerun ran
    with no timer (a hang hung the run), and the first attempt's timeout went unreported."""
    installed("pytest-rerunfailures>=14", "pytest_rerunfailures")
    pytester.makepyfile(
        test_hangs="""
        import time
        import pytest

        @pytest.mark.timeout(1)
        def test_hangs():
            time.sleep(30)
        """
    )
    result = pytester.runpytest_subprocess(
        "--reruns", "1", "-p", "no:cacheprovider", "--gridgate-report", "r.json"
    )
    report = json.loads((pytester.path / "r.json").read_text())
    stages = [(entry["nodeid"], entry["stage"]) for entry in report["timeouts"]]
    assert stages == [("test_hangs.py::test_hangs", 1)] * 2, result.stdout.str()
    result.assert_outcomes(failed=1)
    assert result.parseoutcomes()["rerun"] == 1


def test_gridgate_reruns_and_rerunfailures_reruns_are_refused_together(
    pytester: pytest.Pytester, installed: Callable[[str, str], None]
) -> None:
    installed("pytest-rerunfailures>=14", "pytest_rerunfailures")
    pytester.makepyprojecttoml("[tool.gridgate.flaky]\nreruns = 1\nmax_rate = 1.0\n")
    pytester.makepyfile(
        "import itertools\nATTEMPTS = itertools.count(1)\n"
        "def test_flaky():\n    assert next(ATTEMPTS) > 1\n"
    )
    both = pytester.runpytest_subprocess("--reruns", "1", "-p", "no:cacheprovider")
    assert both.ret == pytest.ExitCode.USAGE_ERROR
    both.stderr.fnmatch_lines(["ERROR: gridgate: flaky.reruns * pytest-rerunfailures' --reruns*"])
    # Installed but not rerunning: gridgate's reruns run, and find the test flaky.
    alone = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--gridgate-report", "r.json")
    assert alone.ret == 0, alone.stdout.str()
    [entry] = json.loads((pytester.path / "r.json").read_text())["flaky"]
    assert entry["outcome"] == "flaky"
