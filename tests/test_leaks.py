"""Leak detection, driven through real pytest runs in subprocesses.

Every run here is ``runpytest_subprocess``: the inner tests leak threads, processes,
descriptors, variables, the working directory and signal handlers on purpose, which must
never reach the outer test process. What they found is read from the gate report itself:
the JSON file (``--gridgate-report``: its ``leaks`` entries, ``gates`` verdicts, counts and
exit code) and the ``gridgate`` section of the terminal summary.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest

if TYPE_CHECKING:
    from conftest import Gated


def _owner(entry: dict[str, Any]) -> str:
    """The fixture (or ``session``) owning a leaked resource, else the leaking test."""
    return str(entry["fixture"] or entry["nodeid"])


def _gate(report: dict[str, Any], name: str) -> dict[str, Any]:
    [gate] = [gate for gate in report["gates"] if gate["gate"] == name]
    assert isinstance(gate, dict)
    return gate


def _processes_with(marker: str) -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or ())
        if marker in cmdline:
            found.append(f"{proc.pid}: {cmdline}")
    return found


KINDS_TESTS = """
    import asyncio
    import os
    import signal
    import socket
    import subprocess
    import sys
    import threading
    import time

    import pytest

    KEEP = []


    def test_thread_leak():
        stop = threading.Event()
        KEEP.append(stop)
        threading.Thread(target=stop.wait, name="leaky-worker", daemon=True).start()


    def test_thread_joined():
        thread = threading.Thread(target=time.sleep, args=(0.01,))
        thread.start()
        thread.join()


    def test_process_leak():
        KEEP.append(subprocess.Popen(["sleep", os.environ["GG_SLEEP"]]))


    def test_process_waited():
        subprocess.run([sys.executable, "-c", "pass"], timeout=60, check=True)


    def test_zombie_leak():
        proc = subprocess.Popen([sys.executable, "-c", "pass"])
        KEEP.append(proc)
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped


    def test_fd_leak(tmp_path):
        KEEP.append(open(tmp_path / "kept.txt", "w"))


    def test_fd_with_open(tmp_path):
        with open(tmp_path / "closed.txt", "w") as f:
            f.write("x")


    class Cycle:
        def __init__(self, path):
            self.me = self
            self.file = open(path, "w")


    def test_fd_in_garbage_cycle(tmp_path):
        Cycle(tmp_path / "garbage.txt")  # closed by the next collection: not a leak


    def test_socket_leak():
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        KEEP.append(sock)


    def test_environ_leak():
        os.environ["LEAKY_VAR"] = "s3cr3t-value"
        del os.environ["GG_PRESET"]


    def test_environ_monkeypatched(monkeypatch):
        monkeypatch.setenv("LEAKY_VAR", "s3cr3t-value")
        monkeypatch.delenv("GG_PRESET", raising=False)


    def test_cwd_leak(tmp_path):
        os.chdir(tmp_path)


    def test_cwd_monkeypatched(monkeypatch, tmp_path):
        monkeypatch.chdir(tmp_path)


    def test_cwd_leak_through_fchdir(tmp_path):
        fd = os.open(tmp_path, os.O_RDONLY)
        os.fchdir(fd)
        os.close(fd)


    def test_environ_cleared_and_restored():
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(saved)


    class Worker(threading.Thread):
        def __init__(self):
            super().__init__(name="subclassed-worker", daemon=True)
            self.stop = threading.Event()

        def run(self):
            self.stop.wait()


    def test_thread_subclass_leak():
        worker = Worker()
        KEEP.append(worker)
        worker.start()


    def test_signal_leak():
        signal.signal(signal.SIGUSR1, lambda signum, frame: None)


    def test_signal_restored():
        old = signal.signal(signal.SIGUSR2, lambda signum, frame: None)
        signal.signal(signal.SIGUSR2, old)


    def test_loop_left_current():
        asyncio.set_event_loop(asyncio.new_event_loop())


    def test_loop_left_open():
        KEEP.append(asyncio.new_event_loop())


    def test_loop_run():
        asyncio.run(asyncio.sleep(0))


    def test_uses_session_thread(ticker):
        assert ticker.is_alive()


    def test_uses_session_thread_again(ticker):
        assert ticker.is_alive()


    def test_uses_pooled_worker(pooled_worker):
        assert pooled_worker.is_alive()


    @pytest.mark.gridgate_allow_leaks("processes")
    def test_allowed_process_outlives_the_test():
        KEEP.append(subprocess.Popen(["sleep", os.environ["GG_SLEEP"] + "1"]))
"""

SESSION_FIXTURE = """
    import threading

    import pytest


    @pytest.fixture(scope="session")
    def ticker():
        stop = threading.Event()
        thread = threading.Thread(target=stop.wait, name="session-ticker")
        thread.start()
        yield thread
        stop.set()
        thread.join()


    @pytest.fixture(scope="session")
    def pool():
        workers = []
        yield workers
        for stop, thread in workers:
            stop.set()
            thread.join()


    @pytest.fixture
    def pooled_worker(pool):
        # Started by a function-scoped fixture, owned (and stopped) by the session's pool.
        stop = threading.Event()
        thread = threading.Thread(target=stop.wait, name="pooled-worker")
        thread.start()
        pool.append((stop, thread))
        return thread
"""

SERVER_TESTS = """
    import socket
    import subprocess
    import sys

    import pytest

    SERVER = (
        "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen();"
        "print(s.getsockname()[1], flush=True); time.sleep(600)"
    )


    @pytest.fixture(scope="module")
    def server():
        proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE)
        port = int(proc.stdout.readline())
        yield port
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()


    @pytest.mark.parametrize("n", range(3))
    def test_server(server, n):
        socket.create_connection(("127.0.0.1", server), timeout=30).close()
"""

FIXTURE_LEAK_TESTS = """
    import os

    import pytest


    @pytest.fixture(scope="module")
    def careless_env():
        os.environ["FIXTURE_LEAKED"] = "s3cr3t-value"
        yield


    def test_careless_1(careless_env):
        pass


    def test_careless_2(careless_env):
        pass
"""

EXPECTED_FAIL = {
    ("test_kinds.py::test_thread_leak", "thread"),
    ("test_kinds.py::test_process_leak", "process"),
    ("test_kinds.py::test_zombie_leak", "zombie"),
    ("test_kinds.py::test_fd_leak", "fd"),
    ("test_kinds.py::test_socket_leak", "socket"),
    ("test_kinds.py::test_environ_leak", "environ"),
    ("test_kinds.py::test_cwd_leak", "cwd"),
    ("test_kinds.py::test_cwd_leak_through_fchdir", "cwd"),
    ("test_kinds.py::test_thread_subclass_leak", "thread"),
    ("test_kinds.py::test_signal_leak", "signal"),
    ("test_kinds.py::test_loop_left_current", "asyncio"),
    ("test_kinds.py::test_loop_left_open", "asyncio"),
    ("test_fixture_leak.py::careless_env", "environ"),
    ("session", "process"),  # allowed for its test, killed at the end of the session
}


@pytest.mark.parametrize("xdist", [False, True], ids=["single", "xdist"])
def test_each_kind_is_reported_cleaned_up_and_clean_patterns_are_not(
    pytester: pytest.Pytester, gated: Gated, monkeypatch: pytest.MonkeyPatch, xdist: bool
) -> None:
    monkeypatch.setenv("GG_PRESET", "preset-value")
    # A unique argument, so that concurrent runs cannot see each other's process.
    sleep = f"600.{uuid.uuid4().int % 10**9:09d}"
    monkeypatch.setenv("GG_SLEEP", sleep)
    pytester.makepyprojecttoml('[tool.gridgate.leaks]\naction = "fail"\ngrace = 0.2\n')
    pytester.makeconftest(SESSION_FIXTURE)
    pytester.makepyfile(
        test_kinds=KINDS_TESTS, test_server=SERVER_TESTS, test_fixture_leak=FIXTURE_LEAK_TESTS
    )
    args = ["-p", "xdist", "-n", "2"] if xdist else ["-p", "no:randomly"]
    result, report = gated.run(*args, "-rE")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    entries = report["leaks"]
    # Exactly the leaking tests and the careless fixture: none of the clean patterns, and
    # neither fixture's resources blamed on the tests that used them.
    assert {(_owner(e), e["kind"]) for e in entries} == EXPECTED_FAIL
    details = {(_owner(e).split("::")[-1], e["detail"]) for e in entries}
    text = "\n".join(f"{n}: {d}" for n, d in sorted(details))
    assert re.search(
        r"test_thread_leak: thread 'leaky-worker' still running \(target Event.wait .*"
        r"started at \S+test_kinds.py:\d+, daemon\)",
        text,
    )
    assert re.search(rf"test_process_leak: pid \d+ 'sleep {sleep}' still running", text)
    assert re.search(r"test_zombie_leak: pid \d+ '\S+' exited but was never waited for", text)
    assert re.search(r"test_fd_leak: fd \d+ -> \S+kept.txt \(file object", text)
    assert re.search(r"test_socket_leak: fd \d+ -> socket:\S+ \(TCP socket \('127.0.0.1'", text)
    assert "test_environ_leak: GG_PRESET removed" in text
    assert "test_environ_leak: LEAKY_VAR added" in text
    assert "test_cwd_leak: working directory changed from " in text
    assert "test_cwd_leak_through_fchdir: working directory changed from " in text
    assert "test_thread_subclass_leak: thread 'subclassed-worker' still running" in text
    assert "test_signal_leak: handler for SIGUSR1 changed from SIG_DFL to " in text
    assert "test_loop_left_current: event loop _UnixSelectorEventLoop left open and set as" in text
    assert "test_loop_left_open: event loop _UnixSelectorEventLoop left open (never closed)" in text
    assert "careless_env: FIXTURE_LEAKED added" in text
    assert re.search(rf"session: pid \d+ 'sleep {sleep}1' still running", text)
    cleaned = {e["kind"] for e in entries if e["cleaned"]}
    assert cleaned == {"process", "zombie", "environ", "cwd", "signal", "asyncio"}
    assert {e["action"] for e in entries} == {"fail"}

    # Each leak is a teardown error on the test (or the last test using the fixture).
    outcomes = result.parseoutcomes()
    assert outcomes["errors"] == 13 if not xdist else outcomes["errors"] >= 13
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_signal_leak*", "*SIGUSR1*"])
    # The report counts them as pytest does, every worker's included.
    counts = report["counts"]
    assert (counts["passed"], counts["failed"], counts["errors"]) == (30, 0, outcomes["errors"])
    gate = _gate(report, "leaks")
    assert gate["passed"] is False
    assert gate["summary"].startswith(f"{len(entries)} leak(s) in ")
    assert len(gate["details"]) == len(report["leak_groups"])
    assert "test_kinds.py::test_signal_leak: signal: handler for SIGUSR1" in "\n".join(
        gate["details"]
    )
    result.stdout.fnmatch_lines(
        [
            "*= gridgate =*",
            f"FAIL leaks * {gate['summary']}",
            "    *: *: *",
            "gridgate: failed (exit code 1)",
        ]
    )
    # Names only: no value of any variable reaches the output or the report.
    assert "s3cr3t-value" not in result.stdout.str() + json.dumps(report)
    assert "preset-value" not in result.stdout.str() + json.dumps(report)
    # The leaked `sleep 600.<unique>` was killed with its test, not left to the machine.
    assert _processes_with(sleep) == []  # also the allowed `sleep <unique>1`


EXIT_CODE_TESTS = {
    # A leak in a test: its teardown error fails the run.
    "per-test": """
        import os


        def test_clean():
            pass


        def test_leaks_a_variable():
            os.environ["PER_TEST_LEAK"] = "1"
    """,
    # Every test passes; only a process the marker let outlive its test is still running
    # when the session ends.
    "session-end": """
        import os
        import subprocess

        import pytest

        KEEP = []


        def test_clean():
            pass


        @pytest.mark.gridgate_allow_leaks("processes")
        def test_allowed_process():
            KEEP.append(subprocess.Popen(["sleep", os.environ["GG_SLEEP"]]))
    """,
}


@pytest.mark.parametrize("xdist", [False, True], ids=["single", "xdist"])
@pytest.mark.parametrize("where", list(EXIT_CODE_TESTS))
def test_report_exit_code_is_the_process_exit_code_in_fail_mode(
    pytester: pytest.Pytester,
    gated: Gated,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    xdist: bool,
) -> None:
    sleep = f"600.{uuid.uuid4().int % 10**9:09d}"
    monkeypatch.setenv("GG_SLEEP", sleep)
    pytester.makepyprojecttoml('[tool.gridgate.leaks]\naction = "fail"\ngrace = 0.1\n')
    pytester.makepyfile(test_exit=EXIT_CODE_TESTS[where])
    args = ["-p", "xdist", "-n", "2"] if xdist else []
    # _run checks that the report's exit code and outcome are the process's.
    result, report = gated.run(*args)

    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    assert report["outcome"] == "failed"
    [entry] = report["leaks"]
    counts = report["counts"]
    if where == "per-test":
        assert (entry["nodeid"], entry["kind"]) == (
            "test_exit.py::test_leaks_a_variable",
            "environ",
        )
        assert (counts["passed"], counts["errors"]) == (2, 1)
    else:
        assert (entry["nodeid"], entry["fixture"], entry["kind"]) == (
            "test_exit.py::test_allowed_process",
            "session",
            "process",
        )
        assert sleep in entry["detail"]
        # Every test passed: the session-end leftover alone fails the run.
        assert (counts["passed"], counts["failed"], counts["errors"]) == (2, 0, 0)
        assert _gate(report, "tests")["passed"] is True
    assert _gate(report, "leaks")["passed"] is False
    result.stdout.fnmatch_lines(
        ["*= gridgate =*", "FAIL leaks *", "gridgate: failed (exit code 1)"]
    )
    assert _processes_with(sleep) == []


ENV_MARKER_TESTS = """
    import os

    import pytest


    @pytest.fixture
    def seen_by_fixture():
        return os.environ.get("MARKED")


    @pytest.mark.gridgate_env(MARKED="marker", GG_PRESET="marker", GG_GONE=None)
    def test_marker_and_monkeypatch(monkeypatch, seen_by_fixture):
        assert seen_by_fixture == "marker"
        assert "GG_GONE" not in os.environ
        monkeypatch.setenv("PATCHED", "patched")
        monkeypatch.setenv("MARKED", "patched")  # on top of the marker's value
        monkeypatch.delenv("GG_PRESET")


    @pytest.mark.gridgate_env(MARKED="marker")
    class TestMarkedClass:
        def test_inherits_the_marker(self, monkeypatch):
            assert os.environ["MARKED"] == "marker"
            monkeypatch.setenv("GG_GONE", "patched")


    def test_next_test_sees_the_environment_restored():
        assert "MARKED" not in os.environ
        assert "PATCHED" not in os.environ
        assert os.environ["GG_PRESET"] == "preset-value"
        assert os.environ["GG_GONE"] == "gone-value"
"""


def test_env_marker_with_monkeypatch_is_not_a_leak_and_is_restored(
    pytester: pytest.Pytester, gated: Gated, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GG_PRESET", "preset-value")
    monkeypatch.setenv("GG_GONE", "gone-value")
    pytester.makepyprojecttoml('[tool.gridgate.leaks]\naction = "fail"\n')
    pytester.makepyfile(test_env_marker=ENV_MARKER_TESTS)
    result, report = gated.run("-p", "no:randomly")

    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert report["leaks"] == []
    assert report["counts"]["passed"] == 3
    assert _gate(report, "leaks")["summary"] == "no leaks"


WARN_TESTS = """
    import atexit
    import os
    import subprocess
    import threading

    import pytest


    KEEP = []


    def test_warned():
        os.environ["WARNED_VAR"] = "1"


    @pytest.mark.gridgate_allow_leaks("environ")
    def test_allowed_environ_but_not_thread():
        os.environ["ALLOWED_VAR"] = "1"
        stop = threading.Event()
        threading.Thread(target=stop.wait, args=(30,), name="not-allowed", daemon=True).start()


    def test_ignored_by_config():
        os.environ["IGNORED_VAR"] = "1"
        stop = threading.Event()
        threading.Thread(target=stop.wait, args=(30,), name="ignored-1", daemon=True).start()


    @pytest.mark.gridgate_allow_leaks("processes")
    def test_allowed_process_killed_at_session_end():
        KEEP.append(subprocess.Popen(["sleep", os.environ["GG_SLEEP"]]))


    def test_third_party_check():
        atexit.register(print)
"""


def test_warn_mode_markers_ignores_third_party_checks_and_session_end(
    pytester: pytest.Pytester, gated: Gated, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleep = f"600.{uuid.uuid4().int % 10**9:09d}"
    monkeypatch.setenv("GG_SLEEP", sleep)
    pytester.makepyprojecttoml(
        textwrap.dedent(
            """
            [tool.pytest.ini_options]
            filterwarnings = ["error"]

            [tool.gridgate.leaks]
            action = "warn"
            grace = 0.1
            ignore = { threads = ["ignored-*"], environ = ["IGNORED_*"] }
            """
        )
    )
    gated.inner("atexit_check.py", "conftest.py")
    pytester.makepyfile(test_warn=WARN_TESTS)
    result, report = gated.run()

    # Warnings only, even under filterwarnings = error: the run passes, and so does the
    # report, session-end leftover included.
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    entries = report["leaks"]
    found = {(_owner(e).split("::")[-1], e["kind"], e["detail"].split(" (")[0]) for e in entries}
    assert found == {
        ("test_warned", "environ", "WARNED_VAR added"),
        ("test_allowed_environ_but_not_thread", "thread", "thread 'not-allowed' still running"),
        ("test_third_party_check", "atexit", "1 atexit handler(s) registered"),
        (
            "session",
            "process",
            f"pid {_pid_of(entries, sleep)} 'sleep {sleep}' still running",
        ),
    }
    assert {e["action"] for e in entries} == {"warn"}
    result.stdout.fnmatch_lines(
        [
            "test_warn.py::test_warned",
            "*test_warn.py:*: GridgateLeakWarning: *",
            "*WARNED_VAR added*",
        ]
    )
    gate = _gate(report, "leaks")
    assert gate["passed"] is True
    assert gate["summary"].endswith("(warn only)")
    result.stdout.fnmatch_lines(
        ["*= gridgate =*", f"PASS leaks * {gate['summary']}", "gridgate: passed (exit code 0)"]
    )
    # The allowed process outlived its test, but not the session.
    assert _processes_with(sleep) == []


def _pid_of(entries: list[dict[str, Any]], marker: str) -> str:
    for entry in entries:
        if marker in entry["detail"]:
            return str(entry["detail"].split()[1])
    return "?"


def test_action_off_installs_nothing(pytester: pytest.Pytester, gated: Gated) -> None:
    pytester.makepyprojecttoml('[tool.gridgate.leaks]\naction = "off"\n')
    pytester.makepyfile(
        """
        import os

        def test_leaks_but_nobody_looks():
            os.environ["UNWATCHED"] = "1"
            assert not __import__("pytest_gridgate.leaks.tracking").leaks.tracking._installed[0]
        """
    )
    result, report = gated.run()
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert report["leaks"] == []
    assert _gate(report, "leaks") == {
        "gate": "leaks",
        "passed": True,
        "summary": "leak detection off",
        "details": [],
    }


def test_demo_example_has_one_leak_of_each_kind(pytester: pytest.Pytester, gated: Gated) -> None:
    demo = Path(__file__).parent.parent / "examples" / "tests" / "test_leaky_demo.py"
    pytester.makepyprojecttoml('[tool.gridgate.leaks]\naction = "fail"\ngrace = 0.1\n')
    pytester.makepyfile(test_leaky_demo=demo.read_text())
    result, report = gated.run()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    kinds = sorted(e["kind"] for e in report["leaks"])
    assert kinds == sorted(
        ["thread", "process", "zombie", "fd", "socket", "environ", "cwd", "signal", "asyncio"]
    )
    assert os.environ.get("DEMO_LEAKED_TOKEN") is None


def test_a_module_imported_afresh_keeps_its_own_cells(pytester: pytest.Pytester) -> None:
    # pytester's in-process runs drop modules first imported during a run from sys.modules;
    # the next run's detector imports the tracking module afresh and must see changes.
    # (Leak checks off in this run: the test itself changes what they watch.)
    pytester.makepyprojecttoml('[tool.gridgate.leaks]\naction = "off"\n')
    pytester.makepyfile(
        """
        import importlib
        import os
        import signal
        import sys
        import threading

        def test_fresh_import(tmp_path):
            name = "pytest_gridgate.leaks.tracking"
            importlib.import_module(name).install()
            del sys.modules[name]
            fresh = importlib.import_module(name)
            fresh.install()

            os.chdir(tmp_path)
            assert fresh.current_cwd() == str(tmp_path)
            before = fresh.thread_start_count()
            thread = threading.Thread(target=lambda: None)
            thread.start()
            thread.join()
            assert fresh.thread_start_count() == before + 1
            before = fresh.environ_change_count()
            os.environ["GG_FRESH"] = "1"
            assert fresh.environ_change_count() == before + 1
            handler = lambda signum, frame: None
            signal.signal(signal.SIGUSR1, handler)
            assert handler in fresh.watched_handlers()
            # Each wrapper wraps the original once, not the dropped module's wrapper.
            assert not getattr(os.chdir.__wrapped__, "_gridgate", False)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_check_that_raises_is_reported_and_the_others_still_run(
    pytester: pytest.Pytester,
    gated: Gated,
) -> None:
    pytester.makepyprojecttoml('[tool.gridgate.leaks]\naction = "warn"\n')
    pytester.makeconftest(
        """
        class BrokenCheck:
            name = "broken"

            def snapshot(self):
                raise RuntimeError("no snapshot today")

            def compare(self, before):
                return []


        def pytest_gridgate_leak_checks(config):
            return [BrokenCheck()]
        """
    )
    pytester.makepyfile(
        """
        import os

        def test_leaks_a_variable():
            os.environ["BROKEN_NEIGHBOUR_VAR"] = "1"

        def test_clean():
            pass
        """
    )
    result, report = gated.run()

    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=2, warnings=2)
    assert [(e["nodeid"].split("::")[-1], e["kind"], e["detail"]) for e in report["leaks"]] == [
        ("test_leaks_a_variable", "environ", "BROKEN_NEIGHBOUR_VAR added")
    ]
    result.stdout.fnmatch_lines(["*leak check 'broken' failed: RuntimeError('no snapshot today')*"])


BETWEEN_TESTS_CONFTEST = """
    import os

    KEPT = []


    def pytest_runtest_logfinish(nodeid):
        # After the first test's check, before the second's baseline: a plugin's file.
        if nodeid.endswith("::test_first"):
            KEPT.append(open(os.devnull))
"""


def test_a_descriptor_opened_between_two_tests_is_neither_tests(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    # The baseline before a test is the snapshot after the last one, unless the lowest free
    # descriptor number moved in between: what a plugin opened between the tests is no
    # test's leak.
    gated.project(
        '[tool.gridgate.leaks]\naction = "fail"\n',
        conftest=BETWEEN_TESTS_CONFTEST,
        test_between="def test_first():\n    pass\n\n\ndef test_second():\n    pass\n",
    )
    result, report = gated.run("-p", "no:randomly")
    assert result.ret == 0, result.stdout.str()
    assert report["leaks"] == []
