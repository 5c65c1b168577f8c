"""Timeouts gate: real pytest runs with hanging tests, checked for verdict, report and orphans.

Each scenario runs in a subprocess (signals, threads, forked supervisor). Timeouts are tiny
(1 s, kill_after 1 s); a real hang is caught by the outer ``--timeout=300``. Nothing here
measures wall time: the runs end, or the outer timeout fails the test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest

if TYPE_CHECKING:
    from conftest import Gated

pytest_plugins = ["pytester"]


def _project(pytester: pytest.Pytester, timeouts: str, **modules: str) -> None:
    pytester.makepyprojecttoml(
        "[tool.pytest.ini_options]\n"
        "addopts = '-p no:cacheprovider'\n"
        "markers = ['slow: a slow test']\n"
        "[tool.gridgate.timeouts]\n" + textwrap.dedent(timeouts)
    )
    pytester.makepyfile(**{name: textwrap.dedent(body) for name, body in modules.items()})


def _timeouts(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["nodeid"].split("::")[-1]: entry for entry in report["timeouts"]}


def _alive(marker: str) -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or ())
        if marker in cmdline and "sleep" in cmdline:
            found.append(f"{proc.pid} {cmdline}")
    return found


def _unique_sleep() -> str:
    # A sleep argument no other test uses, so that the orphan check finds only ours.
    return f"600.{uuid.uuid4().int % 10**6:06d}"


def test_stage_one_timeouts_fail_the_test_and_the_run_goes_on(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    sleep_arg = _unique_sleep()
    _project(
        pytester,
        """
        default = 1
        kill_after = 5
        markers = { slow = 10 }
        """,
        test_hangs=f"""
        import asyncio, subprocess, time
        import pytest

        @pytest.fixture
        def hangs_in_setup():
            time.sleep(60)
            yield

        @pytest.fixture
        def hangs_in_teardown():
            yield
            time.sleep(60)

        def test_sleep():
            time.sleep(60)

        def test_setup(hangs_in_setup):
            pass

        def test_teardown(hangs_in_teardown):
            pass

        async def wait_forever():
            await asyncio.sleep(60)  # awaited line

        def test_async():
            async def main():
                await wait_forever()
            asyncio.run(main())

        def test_child():
            subprocess.Popen(["sleep", "{sleep_arg}"])
            time.sleep(60)

        @pytest.mark.timeout("soon")
        def test_bad_marker():
            pass

        @pytest.mark.slow
        def test_marker_default_wins_over_default():
            time.sleep(1.5)

        @pytest.mark.timeout(10)
        def test_explicit_marker_wins():
            time.sleep(1.5)

        def test_after_all_that():
            pass
        """,
    )
    result, report = gated.run("-v")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=4, failed=3, errors=3)
    timeouts = _timeouts(report)
    assert set(timeouts) == {
        "test_sleep",
        "test_setup",
        "test_teardown",
        "test_async",
        "test_child",
    }
    assert {name: entry["phase"] for name, entry in timeouts.items()} == {
        "test_sleep": "call",
        "test_setup": "setup",
        "test_teardown": "teardown",
        "test_async": "call",
        "test_child": "call",
    }
    assert all(entry["seconds"] == 1.0 and entry["stage"] == 1 for entry in timeouts.values())
    assert timeouts["test_sleep"]["where"] == "test_hangs.py:15 in test_sleep"
    assert timeouts["test_setup"]["where"] == "test_hangs.py:6 in hangs_in_setup"
    assert timeouts["test_teardown"]["where"] == "test_hangs.py:12 in hangs_in_teardown"
    # The async test names the line it awaits, not the event loop's select().
    assert timeouts["test_async"]["where"] == "test_hangs.py:24 in wait_forever"
    # What the test started, and nothing else (not the watcher's `sleep`: it is spared).
    [killed] = timeouts["test_child"]["killed"]
    assert sleep_arg in killed
    assert [name for name, entry in timeouts.items() if "killed" in entry] == ["test_child"]
    assert _alive(sleep_arg) == []

    out = result.stdout.str()
    result.stdout.fnmatch_lines(["*test_hangs.py::test_sleep TIMEOUT*"])
    result.stdout.fnmatch_lines(["*bad @pytest.mark.timeout('soon'): Invalid timeout soon*"])
    assert "INTERNALERROR" not in out
    assert "Task-1 awaiting at test_hangs.py:24 in wait_forever" in out
    result.stdout.fnmatch_lines(
        ["FAIL timeouts    5 timed out", "    TIMEOUT *test_sleep (call, over 1s) at *"]
    )
    gate = next(g for g in report["gates"] if g["gate"] == "timeouts")
    assert not gate["passed"]


def test_stage_two_ends_a_test_that_blocks_the_alarm(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    # SIGALRM blocked: stage one never lands; the watchdog thread (which has the GIL here)
    # dumps the stacks, writes the report and ends the run with exit 1.
    sleep_arg = _unique_sleep()
    _project(
        pytester,
        """
        default = 1
        kill_after = 1
        """,
        test_blocked=f"""
        import signal, subprocess, time

        def test_first():
            pass

        def test_blocked():
            signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGALRM}})
            subprocess.Popen(["sleep", "{sleep_arg}"])
            time.sleep(60)

        def test_never_started():
            pass
        """,
    )
    result, report = gated.run()

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    entry = _timeouts(report)["test_blocked"]
    assert entry["stage"] == 2
    assert entry["phase"] == "call"
    assert entry["where"] == "test_blocked.py:9 in test_blocked"
    assert report["exit_code"] == 1
    assert report["counts"]["passed"] == 1
    [killed] = entry["killed"]  # not the watcher nor its `sleep`
    assert sleep_arg in killed
    assert _alive(sleep_arg) == []
    err = result.stderr.str()
    assert "gridgate TIMEOUT: test_blocked.py::test_blocked ran past its 1s timeout" in err
    assert 'test_blocked.py", line 9 in test_blocked' in err  # faulthandler's dump
    result.stdout.fnmatch_lines(["FAIL tests *1 passed, 1 failed", "FAIL timeouts *1 timed out"])


def test_stage_two_kills_c_code_that_holds_the_gil(pytester: pytest.Pytester, gated: Gated) -> None:
    # sum() over a range never returns to the interpreter loop, so neither the signal
    # handler nor the watchdog thread can run: the supervisor process ends it.
    sleep_arg = _unique_sleep()
    _project(
        pytester,
        """
        default = 1
        kill_after = 1
        """,
        test_c_hang=f"""
        import subprocess

        def test_first():
            pass

        def test_c_level():
            subprocess.Popen(["sleep", "{sleep_arg}"])
            sum(range(10**12))
        """,
    )
    result, report = gated.run("--gridgate-summary", "summary.md")

    assert result.ret == -9  # killed: there is no other way out of C code holding the GIL
    entry = _timeouts(report)["test_c_level"]
    assert entry["stage"] == 2
    assert entry["seconds"] == 1.0
    assert report["outcome"] == "failed"
    [killed] = entry["killed"]  # not the take-over itself, nor the watcher that started it
    assert sleep_arg in killed
    assert _alive(sleep_arg) == []
    err = result.stderr.str()
    assert "test_c_hang.py::test_c_level is stuck in code that holds the GIL" in err
    assert 'test_c_hang.py", line 8 in test_c_level' in err  # faulthandler's dump
    # Rendered as every gate report is, from the supervisor's process.
    markdown = (pytester.path / "summary.md").read_text()
    assert markdown.startswith("## ❌ gridgate: failed (exit code 137)")
    assert "| timeouts | ❌ fail | 1 timed out; the run was killed in" in markdown
    result.stdout.fnmatch_lines(
        [
            # Every gate's verdict as of the last snapshot (taken at most once a second),
            # with the lost test counted.
            "PASS collection *2 tests collected",
            "FAIL tests *1 failed",
            "FAIL timeouts *1 timed out; the run was killed in *test_c_level",
        ]
    )


def test_stage_two_ends_a_test_outside_the_main_thread(pytester: pytest.Pytester) -> None:
    # pytest itself runs in a thread: no SIGALRM there, so stage two comes at the timeout.
    sleep_arg = _unique_sleep()
    _project(
        pytester,
        """
        default = 1
        kill_after = 1
        """,
        test_threaded=f"""
        import subprocess, time

        def test_hang():
            subprocess.Popen(["sleep", "{sleep_arg}"])
            time.sleep(60)
        """,
    )
    script = (
        "import threading, pytest\n"
        "args = ['-p', 'no:cacheprovider', '--gridgate-report', 'report.json']\n"
        "runner = threading.Thread(target=pytest.main, args=(args,), name='runner')\n"
        "runner.start()\n"
        "runner.join()\n"
    )
    result = pytester.run(sys.executable, "-c", script, timeout=240)

    assert result.ret == 1
    report = json.loads((pytester.path / "report.json").read_text())
    entry = _timeouts(report)["test_hang"]
    assert entry["stage"] == 2
    assert entry["where"] == "test_threaded.py:5 in test_hang"
    assert _alive(sleep_arg) == []


# A module that blocks at import, next to one that is fine (with and without xdist).
IMPORT_HANG = {
    "test_fine": """
        def test_fine():
            pass
        """,
    "test_import_hang": """
        import time

        time.sleep(60)  # blocks at import

        def test_never():
            pass
        """,
}


def test_import_hang_fails_collection_with_the_blocking_line(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    _project(
        pytester,
        """
        collection = 1
        kill_after = 1
        """,
        **IMPORT_HANG,
    )
    result, report = gated.run()

    assert result.ret == pytest.ExitCode.INTERRUPTED
    entry = _timeouts(report)["test_import_hang.py"]
    assert entry["phase"] == "collection"
    assert entry["where"] == "test_import_hang.py:3 in <module>"
    result.stdout.fnmatch_lines(
        [
            "*time.sleep(60)  # blocks at import*",
            "E   *CollectionTimeout: gridgate: collection ran past timeouts.collection = 1s;"
            " stuck at test_import_hang.py:3 in <module>",
            "TIMEOUT test_import_hang.py - *",
        ]
    )


def test_c_level_import_hang_is_ended_by_the_supervisor(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    _project(
        pytester,
        """
        collection = 1
        kill_after = 1
        """,
        test_c_import="""
        total = sum(range(10**12))  # C code holding the GIL, at import

        def test_never():
            pass
        """,
    )
    result, report = gated.run()

    assert result.ret == -9
    assert report["timeouts"] == [
        {
            "nodeid": "test_c_import.py",
            "seconds": 1.0,
            "phase": "collection",
            "stage": 2,
            "where": "C code holding the GIL (see the stack dump)",
        }
    ]
    assert 'test_c_import.py", line 1 in <module>' in result.stderr.str()


def _budget_project(pytester: pytest.Pytester, tests: int) -> None:
    """A session budget of 1 s, and ``tests`` tests of 0.4 s each."""
    _project(
        pytester,
        "session = 1",
        test_budget=f"""
        import time
        import pytest

        @pytest.mark.parametrize("n", range({tests}))
        def test_slowish(n):
            time.sleep(0.4)
        """,
    )


def test_session_budget_stops_starting_tests(pytester: pytest.Pytester, gated: Gated) -> None:
    _budget_project(pytester, tests=6)
    result, report = gated.run()

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    passed = result.parseoutcomes()["passed"]
    not_run = 6 - passed
    assert 0 < not_run < 6
    gate = next(g for g in report["gates"] if g["gate"] == "timeouts")
    assert not gate["passed"]
    expected = f"session budget of 1s (timeouts.session) spent; {not_run} test"
    assert gate["summary"].startswith(expected)
    assert report["timeouts"] == []  # no test timed out: the budget is a verdict of its own
    result.stdout.fnmatch_lines([f"*{expected}*not run*"])


def test_under_xdist_the_controller_names_the_lost_worker_test(
    pytester: pytest.Pytester,
    gated: Gated,
) -> None:
    sleep_arg = _unique_sleep()
    _project(
        pytester,
        """
        default = 1
        kill_after = 1
        """,
        test_xdist=f"""
        import subprocess, time

        def test_sleep():
            time.sleep(60)

        def test_c_level():
            subprocess.Popen(["sleep", "{sleep_arg}"])
            sum(range(10**12))

        def test_a():
            pass

        def test_b():
            pass

        def test_c():
            pass
        """,
    )
    result, report = gated.run("-n", "2")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=3, failed=2)
    timeouts = _timeouts(report)
    assert timeouts["test_sleep"]["stage"] == 1
    assert timeouts["test_c_level"]["stage"] == 2
    assert _alive(sleep_arg) == []
    assert report["exit_code"] == 1
    # The crash report attached on the controller reaches its terminal verdict too.
    result.stdout.fnmatch_lines(
        [
            "FAIL tests *3 passed, 2 failed",
            "FAIL timeouts *2 timed out",
            "*TIMEOUT*test_c_level*did not stop: process ended*",
        ]
    )


def test_precedence_of_timeout_settings(pytester: pytest.Pytester, gated: Gated) -> None:
    # --timeout wins over timeouts.default and timeouts.markers; the marker wins over both.
    _project(
        pytester,
        """
        default = 30
        kill_after = 1
        markers = { slow = 30 }
        """,
        test_prec="""
        import time
        import pytest

        def test_default():
            time.sleep(60)

        @pytest.mark.slow
        def test_marker_default():
            time.sleep(60)

        @pytest.mark.timeout(3)
        def test_explicit():
            time.sleep(1.5)
        """,
    )
    result, report = gated.run("--timeout=1")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, failed=2)
    assert set(_timeouts(report)) == {"test_default", "test_marker_default"}


@pytest.mark.parametrize("xdist", [False, True], ids=["single", "xdist"])
def test_the_watcher_is_no_leak_and_ends_with_the_run(
    pytester: pytest.Pytester, gated: Gated, xdist: bool
) -> None:
    # Stage two's watcher is a child of every run (of every xdist worker) that starts a
    # `sleep` every second: the leaks gate reports neither, and the watcher ends with the run.
    _project(
        pytester,
        """
        default = 30
        kill_after = 1
        [tool.gridgate.leaks]
        action = "fail"
        """,
        test_watched="""
        import subprocess, sys, time
        import pytest
        from watchers import watchers

        @pytest.mark.parametrize("n", range(2))
        def test_watched(n):
            [watcher] = watchers()
            with open("watchers.txt", "a") as fh:
                fh.write(f"{watcher}\\n")
            subprocess.run([sys.executable, "-c", "pass"], check=True)  # a deep leak scan
            time.sleep(1.5)  # the watcher starts a `sleep` meanwhile
        """,
    )
    gated.inner("watchers.py")
    result, report = gated.run(*(["-n", "2"] if xdist else []))

    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert report["leaks"] == []
    result.assert_outcomes(passed=2)
    watchers = {int(pid) for pid in (pytester.path / "watchers.txt").read_text().split()}
    if not xdist:
        assert len(watchers) == 1  # one for the run
    assert [pid for pid in watchers if _is_watcher(pid)] == []


def test_a_run_killed_from_outside_leaves_no_watcher_behind(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    # Whoever runs pytest may read its output to the end before reaping it: a watcher that
    # waited for the dead run to be reaped would hold that output open forever.
    _project(
        pytester,
        """
        default = 60
        kill_after = 5
        """,
        test_killed="""
        import os, time
        from watchers import watcher_argvs

        def test_killed():
            for pid, argv in watcher_argvs():
                with open("watcher.tmp", "wb") as out:
                    out.write(str(pid).encode() + b" " + argv[4])  # and its state
            os.replace("watcher.tmp", "watcher.txt")
            time.sleep(600)
        """,
    )
    gated.inner("watchers.py")
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest"],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    found = pytester.path / "watcher.txt"
    while not found.exists() and run.poll() is None:
        time.sleep(0.05)
    os.kill(run.pid, signal.SIGKILL)
    output = run.stdout.read() if run.stdout else b""  # to the end: every copy was closed
    run.wait(timeout=60)  # killed: it is gone already

    pid, state = found.read_text().split()
    assert not _is_watcher(int(pid)), output
    assert not Path(state).parent.exists()  # the watcher cleaned up after the dead run


def _is_watcher(pid: int) -> bool:
    try:
        return psutil.Process(pid).cmdline()[:1] == ["gridgate-watchdog"]
    except psutil.Error:  # gone
        return False


def test_docs_and_example_exist() -> None:
    root = Path(__file__).parent.parent
    assert "kill_after" in (root / "docs" / "timeouts.md").read_text()
    assert "sum(range(" in (root / "examples" / "tests" / "test_hangs_demo.py").read_text()


def test_under_xdist_an_import_hang_is_a_collection_failure(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    _project(
        pytester,
        """
        collection = 3  # each worker starts pytest under that clock: room on a busy machine
        kill_after = 1
        """,
        **IMPORT_HANG,
    )
    result, report = gated.run("-n", "2")

    # Every collection failure is exit 2, with or without xdist.
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert report["exit_code"] == 2
    entry = _timeouts(report)["test_import_hang.py"]
    assert entry["phase"] == "collection"
    assert entry["seconds"] == 3.0
    assert entry["where"] == "test_import_hang.py:3 in <module>"
    assert [e["nodeid"] for e in report["collection_errors"]] == ["test_import_hang.py"]
    result.stdout.fnmatch_lines(
        ["FAIL collection *1 collection error*", "FAIL timeouts *1 timed out"]
    )


def test_under_xdist_the_session_budget_stops_every_worker(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    _budget_project(pytester, tests=12)
    result, report = gated.run("-n", "2")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert report["exit_code"] == 1
    ran = report["counts"]["passed"]
    assert 0 < ran < 12
    gate = next(g for g in report["gates"] if g["gate"] == "timeouts")
    assert not gate["passed"]
    assert gate["summary"].startswith(
        f"session budget of 1s (timeouts.session) spent; {12 - ran} tests not run"
    )


def test_report_snapshots_keep_their_cost_small(gated: Gated) -> None:
    """The report snapshot the supervisor writes if it must kill the run is refreshed as
    tests start, at most once a second, and only as often as keeps its own CPU time under
    2 % of the run's: in pexpect's suite (490 findings, four minutes of mostly waiting) one
    a second was 8 % of the run's CPU time. Here each snapshot costs 50 ms of CPU and the
    tests only sleep: after the two of the session's start, none is due."""
    gated.project(
        "[tool.gridgate.timeouts]\ndefault = 30\n",
        test_waits="""
            import time
            import pytest

            @pytest.mark.parametrize("n", range(4))
            def test_waits(n):
                time.sleep(1.1)
        """,
    )
    gated.pytester.makeconftest(
        """
        import time

        from pytest_gridgate.timeouts import supervisor

        original = supervisor.Supervisor.snapshot
        taken = []


        def costly(self, data):
            taken.append(1)
            end = time.process_time() + 0.05
            while time.process_time() < end:
                pass
            return original(self, data)


        supervisor.Supervisor.snapshot = costly


        def pytest_sessionfinish(session):
            with open("snapshots.txt", "w") as file:
                file.write(str(len(taken)))
        """
    )
    run = gated.run("-p", "no:randomly", "-p", "no:xdist")
    run.result.assert_outcomes(passed=4)
    # At collection and at the session's start; without the rule, one more per test.
    assert (gated.pytester.path / "snapshots.txt").read_text() == "2"
