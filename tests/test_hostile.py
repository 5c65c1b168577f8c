"""Hostile tests against the timeouts, collection and exit guards (issue 14, items 2, 6-9,
16 and 21): real pytest runs in subprocesses, checked for exit status, report and processes
left behind.

No wall-clock thresholds: every run ends on its own or the outer ``--timeout`` fails the
test; waits for a file are bounded by a generous deadline.
"""

from __future__ import annotations

import json
import textwrap
import time
from typing import TYPE_CHECKING, Any

import psutil
import pytest

if TYPE_CHECKING:
    from conftest import Gated

pytest_plugins = ["pytester"]

XDIST = pytest.mark.parametrize("xdist", [False, True], ids=["single", "xdist"])


def _project(pytester: pytest.Pytester, config: str, **modules: str) -> None:
    pytester.makepyprojecttoml(
        "[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n" + textwrap.dedent(config)
    )
    pytester.makepyfile(**{name: textwrap.dedent(body) for name, body in modules.items()})


def _gate(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(g for g in report["gates"] if g["gate"] == name)


def _orphaned_watchers() -> list[str]:
    """Live gridgate watchers whose run is gone."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        argv = proc.info["cmdline"] or []
        if argv[:1] != ["gridgate-watchdog"] or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if len(argv) > 5 and not psutil.pid_exists(int(argv[5])):
            found.append(f"{proc.pid} watching the dead run {argv[5]}")
    return found


def _no_orphaned_watchers() -> None:
    # A watcher outlives its run by a second or two at most (it wakes once a second).
    deadline = time.monotonic() + 60
    while _orphaned_watchers() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _orphaned_watchers() == []


# -- item 6: a module holding the GIL at import ------------------------------------------------


@XDIST
def test_a_module_hanging_collection_in_c_code_is_named_once(
    pytester: pytest.Pytester, gated: Gated, xdist: bool
) -> None:
    _project(
        pytester,
        """
        [tool.gridgate.timeouts]
        collection = 5  # each worker starts pytest under that clock: room on a busy machine
        kill_after = 1
        [tool.gridgate.env]
        HOSTILE_FLAG = "1"
        """,
        test_fine="""
        def test_one():
            pass

        def test_two():
            pass
        """,
        test_gil_import="""
        with open("imports.txt", "a") as fh:
            fh.write("imported\\n")
        total = sum(range(10**12))  # C code holding the GIL, at import

        def test_never():
            pass
        """,
    )
    result, report = gated.run(*(["-n", "2"] if xdist else []), timeout=280)

    # Without xdist the supervisor kills the run (there is no other way out of C code
    # holding the GIL); with it, the controller goes on without the module.
    assert result.ret == (pytest.ExitCode.INTERRUPTED if xdist else -9)
    [entry] = report["timeouts"]
    assert entry["nodeid"] == "test_gil_import.py"
    assert entry["phase"] == "collection"
    assert entry["stage"] == 2
    assert [e["nodeid"] for e in report["collection_errors"]] == ["test_gil_import.py"]
    collection = _gate(report, "collection")
    assert not collection["passed"]
    assert any("test_gil_import.py" in d for d in collection["details"])
    assert not _gate(report, "timeouts")["passed"]
    assert report["env"]["applied"] == ["HOSTILE_FLAG"]
    assert "leaks" in report
    imports = (pytester.path / "imports.txt").read_text().split()
    if xdist:
        # Each of the first two workers imports it once; their replacements skip it.
        assert len(imports) <= 2
        assert report["counts"]["passed"] == 2
        result.stdout.fnmatch_lines(["FAIL timeouts *1 timed out*"])
    else:
        assert len(imports) == 1
    _no_orphaned_watchers()


# -- item 7: a fixture that kills every child of the pytest process ----------------------------


@XDIST
def test_killing_every_child_does_not_unguard_a_later_test(
    pytester: pytest.Pytester, gated: Gated, xdist: bool
) -> None:
    _project(
        pytester,
        """
        [tool.gridgate.timeouts]
        default = 1
        kill_after = 1
        """,
        test_killer="""
        import psutil
        import pytest

        @pytest.fixture
        def kill_children():
            yield
            for child in psutil.Process().children(recursive=True):
                child.kill()

        def test_cleans_up(kill_children):
            pass

        def test_holds_the_gil():
            sum(range(10**12))
        """,
    )
    # One worker under xdist: the killer and the test after it share a process.
    args = ["-n", "1"] if xdist else []
    result, report = gated.run(*args, timeout=280)

    timeouts = {e["nodeid"].split("::")[-1]: e for e in report["timeouts"]}
    assert timeouts["test_holds_the_gil"]["stage"] == 2
    assert result.ret == (pytest.ExitCode.TESTS_FAILED if xdist else -9)
    _no_orphaned_watchers()


# -- item 8: KeyboardInterrupt at import --------------------------------------------------------


@XDIST
def test_keyboard_interrupt_at_import_fails_collection(
    pytester: pytest.Pytester, gated: Gated, xdist: bool
) -> None:
    _project(
        pytester,
        "",
        test_a="""
        def test_1():
            pass

        def test_2():
            pass
        """,
        test_b="""
        raise KeyboardInterrupt

        def test_3():
            pass
        """,
        test_c="""
        def test_4():
            pass

        def test_5():
            pass
        """,
    )
    result, report = gated.run(*(["-n", "2"] if xdist else []), timeout=280)

    assert result.ret == pytest.ExitCode.INTERRUPTED
    collection = _gate(report, "collection")
    assert not collection["passed"], collection
    assert [e["nodeid"] for e in report["collection_errors"]] == ["test_b.py"]
    assert "KeyboardInterrupt at import of test_b.py" in report["collection_errors"][0]["message"]
    if xdist:  # a worker's interruption is the module's collection error; the rest ran
        assert report["counts"]["passed"] == 4
    else:  # alone, pytest stops as for Ctrl-C, and the gate says where
        assert "collection interrupted at test_b.py" in collection["summary"]


# -- item 9: os._exit in the pytest process ------------------------------------------------------


@pytest.mark.parametrize("where", ["test", "import"])
def test_os_exit_zero_fails_the_run_with_a_report(
    pytester: pytest.Pytester, gated: Gated, where: str
) -> None:
    modules = {
        "test_first": """
        def test_first():
            pass
        """,
        "test_second": """
        def test_second():
            pass
        """,
    }
    if where == "test":
        modules["test_exit"] = """
        import os

        def test_exits():
            os._exit(0)
        """
    else:
        modules["test_exit"] = """
        import os

        os._exit(0)
        """
    _project(pytester, "", **modules)
    result, report = gated.run(timeout=280)

    run = _gate(report, "run")
    assert not run["passed"]
    if where == "test":
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        assert "os._exit(0) in test_exit.py::test_exits at test_exit.py:4" in run["summary"]
        assert report["counts"]["failed"] == 1
    else:
        assert result.ret == pytest.ExitCode.INTERRUPTED
        assert [e["nodeid"] for e in report["collection_errors"]] == ["test_exit.py"]
    assert report["outcome"] == "failed"
    _no_orphaned_watchers()


def test_an_exit_the_guard_cannot_see_is_reported_by_the_supervisor(
    pytester: pytest.Pytester,
) -> None:
    # posix._exit is not the wrapped os._exit (as C code calling _exit): the process ends
    # with status 0, which nothing can change, but the supervisor writes the report.
    _project(
        pytester,
        "",
        test_exit="""
        import posix

        def test_first():
            pass

        def test_exits():
            posix._exit(0)

        def test_never():
            pass
        """,
    )
    path = pytester.path / "report.json"
    result = pytester.runpytest_subprocess("--gridgate-report", str(path), timeout=280)
    assert result.ret == 0  # what the process said; the report says the rest
    # At once: the report the run wrote when it started says it has not finished.
    assert json.loads(path.read_text())["outcome"] == "failed"
    # Within a second or two: the supervisor's, naming the test.
    deadline = time.monotonic() + 120
    while True:
        try:  # the file may be read while it is rewritten
            report = json.loads(path.read_text())
        except ValueError:
            report = {}
        if (report and "not finished" not in str(report)) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert report["outcome"] == "failed"
    run = _gate(report, "run")
    assert not run["passed"]
    assert run["summary"] == "the pytest process ended in test_exit.py::test_exits"
    _no_orphaned_watchers()


# -- item 16: pytester runs inside a gated suite -------------------------------------------------


def test_inner_gated_sessions_release_everything(pytester: pytest.Pytester, gated: Gated) -> None:
    _project(
        pytester,
        """
        [tool.gridgate.leaks]
        action = "fail"
        """,
        test_inner="""
        import pytest
        from watchers import watchers

        pytest_plugins = ["pytester"]

        @pytest.mark.parametrize("n", range(3))
        def test_inner_run(pytester, n):
            pytester.makepyfile("def test_ok(): pass")
            result = pytester.runpytest("-p", "no:cacheprovider")
            result.assert_outcomes(passed=1)
            # The outer run's watcher only: each inner run's stopped with its session.
            assert len(watchers()) == 1
        """,
    )
    gated.inner("watchers.py")
    result, report = gated.run(timeout=280)

    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert report["leaks"] == []
    result.assert_outcomes(passed=3)


# -- item 21: the verdict names the timeout that applies ----------------------------------------


def test_the_verdict_names_the_timeout_that_applies(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    _project(
        pytester,
        """
        timeout = 20
        [tool.gridgate.timeouts]
        default = 120
        """,
        test_ok="""
        def test_ok():
            pass
        """,
    )
    _, report = gated.run(timeout=280)

    summary = _gate(report, "timeouts")["summary"]
    assert "timeout 20s from the timeout ini option" in summary
    assert "120" not in summary
    _, report = gated.run("--timeout=7", timeout=280)
    assert "timeout 7s from --timeout" in _gate(report, "timeouts")["summary"]


# -- item 2, consumer side: huge or non-finite timeouts reach no timer ---------------------------


def test_huge_and_non_finite_marker_timeouts_never_overflow(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    _project(
        pytester,
        """
        [tool.gridgate.timeouts]
        kill_after = 1
        """,
        test_markers="""
        import pytest

        @pytest.mark.timeout(1e10)
        def test_huge():
            pass

        @pytest.mark.timeout(float("inf"))
        def test_inf():
            pass

        @pytest.mark.timeout(float("nan"))
        def test_nan():
            pass

        def test_after():
            pass
        """,
    )
    result, report = gated.run(timeout=280)

    out = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in out
    assert "OverflowError" not in out
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*bad @pytest.mark.timeout(nan)*not a number of seconds*"])
    # A --timeout over a day is refused up front (exit 4, tests/test_config.py: the config
    # branch's ranges); the largest one accepted reaches the timers without overflowing.
    _, report = gated.run("--timeout=86400", "-k", "after", timeout=280)
    assert report["exit_code"] == 0


def test_the_run_leaves_no_watcher_behind_in_its_parent() -> None:
    # The watchers are no children of the runs above (init reaps them); none of this
    # suite's own process tree may be one when the tests are over.
    me = psutil.Process()
    assert [
        c.pid for c in me.children(recursive=True) if c.cmdline()[:1] == ["gridgate-watchdog"]
    ] == []


def test_an_inner_session_leaves_the_outer_stage_two_intact(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    # The inner run's supervisor registered, then unregistered, the stack dump signal: the
    # outer run's take-over must still get its stack dump, then kill it.
    _project(
        pytester,
        """
        [tool.gridgate.timeouts]
        default = 1
        kill_after = 1
        """,
        test_outer="""
        import pytest

        pytest_plugins = ["pytester"]

        @pytest.mark.timeout(120)  # a whole inner run: room on a busy machine
        def test_inner(pytester):
            pytester.makepyfile("def test_ok(): pass")
            pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)

        def test_holds_the_gil():
            sum(range(10**12))
        """,
    )
    result, report = gated.run(timeout=280)

    assert result.ret == -9
    assert 'test_outer.py", line 11 in test_holds_the_gil' in result.stderr.str()
    [entry] = report["timeouts"]
    assert entry["nodeid"] == "test_outer.py::test_holds_the_gil"
    _no_orphaned_watchers()


def test_a_killed_watcher_is_started_again(pytester: pytest.Pytester, gated: Gated) -> None:
    # Killed by its pid (no cleanup idiom finds it among the children any more): the next
    # test's arming sees it gone and starts another, which ends a test holding the GIL.
    _project(
        pytester,
        """
        [tool.gridgate.timeouts]
        default = 1
        kill_after = 1
        """,
        test_pid_killer=r"""
        import os, signal, time
        import pytest
        from watchers import watchers

        @pytest.mark.timeout(120)
        def test_kills_the_watcher():
            [pid] = watchers()
            os.kill(pid, signal.SIGKILL)
            while pid in watchers():  # gone (reaped by init) before the next test arms
                time.sleep(0.01)

        def test_holds_the_gil():
            sum(range(10**12))
        """,
    )
    gated.inner("watchers.py")
    result, report = gated.run(timeout=280)

    assert result.ret == -9
    [entry] = report["timeouts"]
    assert entry["nodeid"] == "test_pid_killer.py::test_holds_the_gil"
    assert "gridgate: the timeouts supervisor (pid" in result.stderr.str()
    _no_orphaned_watchers()
