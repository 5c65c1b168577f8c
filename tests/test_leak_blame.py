"""The leak gate blames the right test: real pytest runs in subprocesses (issue 14).

Every leak entry's ``nodeid`` is a collected test id; what a higher-scoped fixture made
(in its setup, by its threads, or in its teardown) carries the fixture in its own field;
the cheap tier of the fd check never moves blame; one cause's findings are grouped with
the place to fix it; a thread judged leaked never keeps the interpreter from exiting.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Gated

XDIST = ["-p", "xdist", "-n", "2"]


def _collected(pytester: pytest.Pytester) -> set[str]:
    result = pytester.runpytest_subprocess("--collect-only", "-q", "-p", "no:cacheprovider")
    return {line for line in result.outlines if "::" in line}


def _verdict(report: dict[str, Any]) -> dict[str, Any]:
    [gate] = [gate for gate in report["gates"] if gate["gate"] == "leaks"]
    assert isinstance(gate, dict)
    return gate


FIXTURE_CONFTEST = """
    import os
    import socketserver
    import threading

    import pytest


    @pytest.fixture(scope="session", autouse=True)
    def own_file(tmp_path_factory):
        # Opened for the whole session and closed at its teardown, which runs in the
        # last test's teardown: the count of open descriptors does not move there.
        with open(tmp_path_factory.mktemp("own") / "own.txt", "w") as f:
            yield f


    @pytest.fixture(scope="session")
    def server():
        srv = socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
        thread = threading.Thread(target=srv.serve_forever, name="server")
        thread.start()
        yield srv
        srv.shutdown()
        thread.join()
        srv.server_close()


    @pytest.fixture(scope="session")
    def untidy_teardown():
        yield
        os.environ["LEFT_BY_TEARDOWN"] = "1"  # the fixture's, not the test's
"""

FIXTURE_TESTS = """
    import logging
    import os

    import pytest


    @pytest.fixture(scope="module")
    def careless():
        os.environ["LEFT_BY_SETUP"] = "1"
        yield


    def test_server(server):
        assert server.server_address


    def test_careless_1(careless):
        pass


    def test_careless_2(careless):
        pass


    def test_untidy(untidy_teardown):
        pass


    def test_logging_file(tmp_path):
        logging.getLogger("gg").addHandler(logging.FileHandler(tmp_path / "log.txt"))
"""


@pytest.mark.parametrize("xdist", [False, True], ids=["single", "xdist"])
def test_every_entry_names_a_test_and_fixtures_are_their_own_field(
    pytester: pytest.Pytester, gated: Gated, xdist: bool
) -> None:
    # Issue 14, items 1 and 14: the last test's leaked log file was blamed on the session
    # fixture finalized in its teardown (a socket closed, a file opened: same count).
    pytester.makepyprojecttoml('[tool.gridgate.leaks]\naction = "fail"\ngrace = 0.2\n')
    pytester.makeconftest(FIXTURE_CONFTEST)
    pytester.makepyfile(test_blame=FIXTURE_TESTS)
    collected = _collected(pytester)
    assert len(collected) == 5
    result, report = gated.run(*(XDIST if xdist else ["-p", "no:randomly"]))

    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    entries = report["leaks"]
    assert {e["nodeid"] for e in entries} <= collected, entries
    found = {(e["fixture"], e["kind"], e["detail"].split(" (")[0]) for e in entries}
    assert found == {
        (None, "fd", next(e["detail"] for e in entries if e["kind"] == "fd").split(" (")[0]),
        ("test_blame.py::careless", "environ", "LEFT_BY_SETUP added"),
        ("untidy_teardown", "environ", "LEFT_BY_TEARDOWN added"),
    }, entries
    [fd] = [e for e in entries if e["kind"] == "fd"]
    assert fd["nodeid"] == "test_blame.py::test_logging_file"
    assert re.match(r"fd \d+ -> \S+log.txt \(file object", fd["detail"])
    # Reported in the test during whose teardown the fixture was finalized; under xdist
    # each worker that ran one of its tests set it up, and leaked, once.
    setups = [e for e in entries if e["fixture"] == "test_blame.py::careless"]
    assert len(setups) == (1 if not xdist else len(setups) or 1), setups
    details = "\n".join(_verdict(report)["details"])
    assert "fixture untidy_teardown (finalized in test_blame.py::test_" in details


AUTOUSE_CONFTEST = """
    import pytest


    @pytest.fixture(scope="session", autouse=True)
    def own_file(tmp_path_factory):
        with open(tmp_path_factory.mktemp("own") / "own.txt", "w") as f:
            yield f
"""

LAST_TEST_LEAKS = """
    KEEP = []


    def test_first():
        pass


    def test_last_leaks(tmp_path):
        KEEP.append(open(tmp_path / "leaked.txt", "w"))
"""


@pytest.mark.parametrize("xdist", [False, True], ids=["single", "xdist"])
def test_the_last_tests_leak_is_not_the_autouse_session_fixtures(
    pytester: pytest.Pytester, gated: Gated, xdist: bool
) -> None:
    # Issue 14, item 14: the session fixture closes its file in the last test's teardown,
    # the test keeps one: same count, and the file was reported under ``own_file``.
    pytester.makepyprojecttoml('[tool.gridgate.leaks]\naction = "fail"\n')
    pytester.makeconftest(AUTOUSE_CONFTEST)
    pytester.makepyfile(test_last=LAST_TEST_LEAKS)
    result, report = gated.run(*(XDIST if xdist else ["-p", "no:randomly"]))

    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    [entry] = report["leaks"]
    assert (entry["nodeid"], entry["fixture"], entry["kind"]) == (
        "test_last.py::test_last_leaks",
        None,
        "fd",
    )
    assert "leaked.txt" in entry["detail"]


IMPORT_FD_TESTS = """
    import os

    KEEP = []
    OPENED_AT_IMPORT = open(os.environ["GG_IMPORT_FILE"], "w")


    def test_a_swaps(tmp_path):
        KEEP.append(open(tmp_path / "a.txt", "w"))
        OPENED_AT_IMPORT.close()  # one closed, one kept: the count does not move


    def test_b_leaks(tmp_path):
        KEEP.append(open(tmp_path / "b.txt", "w"))  # takes the freed number


    def test_c_clean():
        pass
"""


@pytest.mark.parametrize("xdist", [False, True], ids=["single", "xdist"])
def test_a_balanced_fd_change_does_not_move_blame_to_the_next_test(
    pytester: pytest.Pytester, gated: Gated, monkeypatch: pytest.MonkeyPatch, xdist: bool
) -> None:
    # Issue 14, item 15: the cheap tier kept a stale listing; test B was blamed for A's
    # descriptor, and B's own (which reused the freed number) went unreported.
    monkeypatch.setenv("GG_IMPORT_FILE", str(pytester.path / "import.txt"))
    pytester.makepyprojecttoml('[tool.gridgate.leaks]\naction = "fail"\ngrace = 0.1\n')
    pytester.makepyfile(test_fds=IMPORT_FD_TESTS)
    args = [*XDIST, "--dist", "loadfile"] if xdist else ["-p", "no:randomly"]
    result, report = gated.run(*args)

    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    found = {
        (e["nodeid"].split("::")[-1], re.sub(r"fd \d+ -> \S+/", "", e["detail"]).split(" ")[0])
        for e in report["leaks"]
    }
    assert found == {("test_a_swaps", "a.txt"), ("test_b_leaks", "b.txt")}, report["leaks"]


THREAD_FIXTURE_TESTS = """
    import threading

    import pytest


    class SlowStart(threading.Thread):
        # Held while starting: in threading.enumerate() (CPython's _limbo), not is_alive().
        def __init__(self, gate, stop):
            super().__init__(name="slow-start")
            self.gate, self.stop = gate, stop

        def _bootstrap_inner(self):
            self.gate.wait()
            super()._bootstrap_inner()

        def run(self):
            self.stop.wait()


    @pytest.fixture(scope="session")
    def dispatcher():
        gate, stop = threading.Event(), threading.Event()
        second = SlowStart(gate, stop)
        first = threading.Thread(target=second.start, name="dispatcher")
        first.start()
        while second not in threading.enumerate():
            first.join(0.001)
        yield gate
        gate.set()
        stop.set()
        first.join()
        second.join()


    @pytest.fixture(scope="session")
    def pool():
        # Its thread starts workers on request, after the fixture's setup returned.
        wanted, started, stop = threading.Event(), threading.Event(), threading.Event()
        workers = []

        def dispatch():
            wanted.wait()
            worker = threading.Thread(target=stop.wait, name="pool-worker")
            workers.append(worker)
            worker.start()
            started.set()
            stop.wait()

        thread = threading.Thread(target=dispatch, name="pool-dispatcher")
        thread.start()
        yield wanted, started
        stop.set()
        thread.join()
        for worker in workers:
            worker.join()


    def test_dispatcher_finishes_starting(dispatcher):
        dispatcher.set()


    def test_pool_starts_a_worker(pool):
        wanted, started = pool
        wanted.set()
        assert started.wait(60)


    def test_next():
        pass
"""


@pytest.mark.parametrize("xdist", [False, True], ids=["single", "xdist"])
def test_threads_a_fixture_starts_are_the_fixtures(
    pytester: pytest.Pytester, gated: Gated, xdist: bool
) -> None:
    # Issue 14, item 18: a thread still starting at the end of a session fixture's setup
    # (and one its thread starts later) was blamed on the test that used the fixture.
    pytester.makepyprojecttoml('[tool.gridgate.leaks]\naction = "fail"\ngrace = 0.2\n')
    pytester.makepyfile(test_threads=THREAD_FIXTURE_TESTS)
    result, report = gated.run(*(XDIST if xdist else ["-p", "no:randomly"]))

    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert report["leaks"] == []
    result.assert_outcomes(passed=3)


HANGING_THREAD_TESTS = """
    import threading

    NEVER = threading.Event()


    def test_starts_a_thread_that_never_ends():
        threading.Thread(target=NEVER.wait, name="never-ends").start()


    def test_after():
        pass
"""


@pytest.mark.parametrize("xdist", [False, True], ids=["single", "xdist"])
def test_a_leaked_non_daemon_thread_does_not_hang_the_exit(
    pytester: pytest.Pytester, gated: Gated, xdist: bool
) -> None:
    # Issue 14, item 4: the report was written, then the interpreter waited forever at exit
    # for the thread. The bound is for the old behaviour (hang), not a measure of speed.
    pytester.makepyprojecttoml('[tool.gridgate.leaks]\naction = "fail"\ngrace = 0.1\n')
    pytester.makepyfile(test_hang=HANGING_THREAD_TESTS)
    result, report = gated.run(*(XDIST if xdist else []), timeout=240)

    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    # Reported once, against its test: not again as a session-end leftover.
    [entry] = report["leaks"]
    assert (entry["nodeid"], entry["kind"], entry["fixture"]) == (
        "test_hang.py::test_starts_a_thread_that_never_ends",
        "thread",
        None,
    )
    assert "non-daemon" in entry["detail"]


SESSION_LEFTOVER_TESTS = """
    import threading

    import pytest

    NEVER = threading.Event()


    @pytest.mark.gridgate_allow_leaks("threads")
    def test_allowed_thread():
        threading.Thread(target=NEVER.wait, name="allowed-never-ends").start()


    def test_last():
        pass
"""


def test_a_session_leftover_names_its_test_and_the_session(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    pytester.makepyprojecttoml('[tool.gridgate.leaks]\naction = "warn"\ngrace = 0.1\n')
    pytester.makepyfile(test_leftover=SESSION_LEFTOVER_TESTS)
    result, report = gated.run("-p", "no:randomly", timeout=240)

    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    [entry] = report["leaks"]
    assert (entry["nodeid"], entry["fixture"]) == (
        "test_leftover.py::test_allowed_thread",
        "session",
    )
    assert "allowed-never-ends" in entry["detail"]


BASE_CASE = """
    import os
    import unittest


    class SharedCase(unittest.TestCase):
        def setUp(self):
            os.environ["COVERAGE_PROCESS_START"] = "x"
            os.environ["COVERAGE_FILE"] = "x"
"""

CASE_TESTS = """
    from base_case import SharedCase


    class Test{n}(SharedCase):
        def test_one(self):
            pass

        def test_two(self):
            pass

        def test_three(self):
            pass
"""

# With a third-party check that cannot say where its resource was made
# (tests/inner/atexit_check.py): its findings are grouped by what their tests have in common.
ATEXIT_TESTS = """
    import atexit


    class TestAtexit:
        def test_1(self):
            atexit.register(print)

        def test_2(self):
            atexit.register(print)
"""


@pytest.mark.parametrize("xdist", [False, True], ids=["single", "xdist"])
def test_one_cause_is_one_group_with_where_to_fix_it(
    pytester: pytest.Pytester, gated: Gated, xdist: bool
) -> None:
    # Issue 14, item 17: a shared setUp setting two variables made 2 findings per test.
    gated.inner("atexit_check.py", "conftest.py")
    pytester.makepyprojecttoml('[tool.gridgate.leaks]\naction = "fail"\n')
    pytester.makepyfile(base_case=BASE_CASE)
    pytester.makepyfile(
        test_first=CASE_TESTS.format(n="First"),
        test_second=CASE_TESTS.format(n="Second"),
        test_atexit=ATEXIT_TESTS,
    )
    pytester.syspathinsert()
    args = XDIST if xdist else ["-p", "no:randomly"]
    result, report = gated.run(*args, "--gridgate-summary", "summary.md")

    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    entries = report["leaks"]
    # Every test is still listed, with its own findings.
    assert len(entries) == 2 * 6 + 2
    setter = str(pytester.path / "base_case.py")
    line = {
        name: f"{setter}:{n}"
        for n, text in enumerate((pytester.path / "base_case.py").read_text().splitlines(), 1)
        for name in ("COVERAGE_PROCESS_START", "COVERAGE_FILE")
        if f'"{name}"' in text
    }
    for entry in entries:
        if entry["kind"] == "environ":
            assert entry["origin"] == line[entry["detail"].split()[0]], entry
    # One group for the setUp, with both its lines; one for the atexit check.
    [found] = [g for g in report["leak_groups"] if g["kind"] == "environ"]
    names = ("COVERAGE_PROCESS_START", "COVERAGE_FILE")
    assert found["details"] == [f"{name} added" for name in names]
    assert found["origins"] == [line[name] for name in names]
    assert (found["count"], found["findings"], found["origin"]) == (6, 12, line[names[0]])
    assert len(set(found["nodeids"])) == 6
    [other] = [g for g in report["leak_groups"] if g["kind"] == "atexit"]
    assert (other["count"], other["origin"]) == (2, "class test_atexit.py::TestAtexit")

    # One line per cause, saying where to fix it, in the terminal section and Markdown.
    gate = _verdict(report)
    assert gate["summary"].startswith("14 leak(s) in 8 test(s) or fixture(s) from 2 cause(s)")
    assert len(gate["details"]) == 2
    fix = (
        "6 x environ: COVERAGE_PROCESS_START added, COVERAGE_FILE added,"
        f" from {line[names[0]]} (and line {line[names[1]].rsplit(':', 1)[1]},"
        " in SharedCase.setUp): fix it there"
    )
    assert any(d.startswith(fix) for d in gate["details"]), gate["details"]
    assert fix in result.stdout.str()
    assert fix in (pytester.path / "summary.md").read_text()
    # And a test's own error already says where the variable was set.
    result.stdout.fnmatch_lines(
        [f"*environ: COVERAGE_FILE added (made at {line['COVERAGE_FILE']})*"]
    )


THREAD_PER_TEST = """
    import threading

    import pytest

    NEVER = threading.Event()


    @pytest.fixture
    def worker():
        thread = threading.Thread(target=NEVER.wait, daemon=True)  # Thread-1, Thread-2, ...
        thread.start()
        return thread


    @pytest.mark.parametrize("n", range(3))
    def test_uses_worker(worker, n):
        pass
"""


def test_one_line_starting_a_thread_per_test_is_one_cause(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    pytester.makepyprojecttoml('[tool.gridgate.leaks]\naction = "warn"\ngrace = 0.1\n')
    pytester.makepyfile(test_workers=THREAD_PER_TEST)
    result, report = gated.run("-p", "no:randomly")

    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert len({e["detail"] for e in report["leaks"]}) == 3  # each names its own thread
    [found] = report["leak_groups"]
    start = str(pytester.path / "test_workers.py")
    assert (found["kind"], found["count"]) == ("thread", 3)
    assert found["origin"].startswith(f"{start}:")
    assert _verdict(report)["details"][0].startswith("3 x thread: ")


# watchdog's suite (issue 14's real suites): a test leaves an auto-restart thread running;
# the gate kills the process it watches, the thread starts it again during the next test,
# and so on: every later test was blamed for a process that one test's thread started.
RESTARTER_TESTS = """
    import subprocess
    import sys
    import threading
    import time

    STOP = threading.Event()


    def keep_running():
        while not STOP.is_set():
            proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            while proc.poll() is None and not STOP.is_set():
                time.sleep(0.02)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            time.sleep(0.2)  # the restart lands inside the next test


    def test_leaves_a_restarter():
        threading.Thread(target=keep_running, name="restarter", daemon=True).start()
        time.sleep(0.3)


    def test_innocent_1():
        time.sleep(1.5)


    def test_innocent_2():
        time.sleep(1.5)


    def test_innocent_3():
        time.sleep(1.5)
        STOP.set()
"""


def _restarts_blamed_on(
    pytester: pytest.Pytester, gated: Gated, culprit: str, **modules: str
) -> tuple[pytest.RunResult, dict[str, Any]]:
    """Run a restart chain in ``fail`` mode: the run fails and every leak is ``culprit``'s."""
    pytester.makepyprojecttoml('[tool.gridgate.leaks]\naction = "fail"\ngrace = 0.1\n')
    pytester.makepyfile(**modules)
    result, report = gated.run("-p", "no:randomly", "-rA", timeout=240)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    assert {e["nodeid"] for e in report["leaks"]} == {culprit}, report["leaks"]
    return result, report


def test_processes_a_leaked_thread_restarts_are_its_tests(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    culprit = "test_restarter.py::test_leaves_a_restarter"
    result, report = _restarts_blamed_on(pytester, gated, culprit, test_restarter=RESTARTER_TESTS)
    # Only the test that left the thread running fails; the innocent ones pass.
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(["ERROR *::test_leaves_a_restarter*"])
    processes = [e for e in report["leaks"] if e["kind"] == "process"]
    # The first process, killed in the test's teardown, and its restart, during the first
    # innocent test: reported on the culprit and left running to the end of the session
    # (killed, it would only be started again, in every later test), then killed.
    assert len(processes) == 2, report["leaks"]
    assert all(e["cleaned"] for e in processes), report["leaks"]
    # One cause: the place that starts the processes, counted once.
    [group] = [g for g in report["leak_groups"] if g["kind"] == "process"]
    assert group["count"] == len(processes)
    assert group["origin"].startswith(str(pytester.path / "test_restarter.py") + ":")


SOCKET_PER_TEST = """
    import socket

    import pytest

    KEPT = []


    @pytest.mark.parametrize("n", range(3))
    def test_listens(n):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        KEPT.append(sock)  # never closed
"""


def test_descriptors_leaked_the_same_way_are_one_cause(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    # anyio's suite: 110 sockets left open by one fixture's error path were 110 "causes",
    # each named by its own descriptor number, inode and port.
    pytester.makepyprojecttoml('[tool.gridgate.leaks]\naction = "warn"\n')
    pytester.makepyfile(test_sockets=SOCKET_PER_TEST)
    result, report = gated.run("-p", "no:randomly")

    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert len({e["detail"] for e in report["leaks"]}) == 3  # each names its own socket
    [found] = report["leak_groups"]
    assert (found["kind"], found["count"]) == ("socket", 3)
    assert found["origin"] == "module test_sockets.py"


# As watchdog's AutoRestartTrick does it: a watcher thread waits for its process; when the
# process dies, it starts a new one and a new watcher, and ends.
WATCHER_TESTS = """
    import subprocess
    import sys
    import threading
    import time

    STOP = threading.Event()


    def watch(proc):
        while proc.poll() is None and not STOP.is_set():
            time.sleep(0.02)
        if STOP.is_set():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            return
        time.sleep(0.2)  # the restart lands inside the next test
        start()


    def start():
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        threading.Thread(target=watch, args=(proc,), name="watcher", daemon=True).start()


    def test_leaves_a_watcher():
        start()
        time.sleep(0.3)


    def test_innocent_1():
        time.sleep(1.5)


    def test_innocent_2():
        time.sleep(1.5)


    def test_innocent_3():
        time.sleep(1.5)
        STOP.set()
"""


def test_processes_an_ended_watcher_thread_restarted_are_its_tests(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    culprit = "test_watcher.py::test_leaves_a_watcher"
    result, report = _restarts_blamed_on(pytester, gated, culprit, test_watcher=WATCHER_TESTS)
    result.assert_outcomes(passed=4, errors=1)
    # The first process and its one restart (left running until the session ends).
    assert len([e for e in report["leaks"] if e["kind"] == "process"]) == 2, report["leaks"]


# watchdog's suite: the gate kills a leaked process in its test's teardown, and the leaked
# watcher thread restarts it (a new process and a new watcher) *between* two tests, where no
# test's check sees them; the new watcher's own restart, inside a later test, was blamed on
# that test. The conftest hook places the restart between the tests deterministically: the
# watcher waits for it, or (``hook``) the hook itself starts the pair on the main thread.
CHAIN_CONFTEST = """
    import subprocess
    import sys
    import threading
    import time

    STOP = threading.Event()
    BETWEEN = threading.Event()
    RESTARTED = threading.Event()
    BY_HOOK = {by_hook}


    def watch(proc, first):
        while proc.poll() is None and not STOP.is_set():
            time.sleep(0.02)
        if STOP.is_set():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            return
        if first:
            BETWEEN.wait(30)  # restart between the tests
            start(0.5)  # ends by itself inside the next test, which restarts it
            RESTARTED.set()
        else:
            time.sleep(0.2)
            start(60)


    def start(lifetime, first=False):
        code = f"import time; time.sleep({{lifetime}})"
        proc = subprocess.Popen([sys.executable, "-c", code])
        threading.Thread(target=watch, args=(proc, first), name="watcher", daemon=True).start()


    def pytest_runtest_logfinish(nodeid):
        if nodeid.endswith("::test_leaves_a_watcher"):
            if BY_HOOK:
                start(0.5)
            else:
                BETWEEN.set()
                RESTARTED.wait(30)
"""

CHAIN_TESTS = """
    import time

    from conftest import BY_HOOK, STOP, start


    def test_leaves_a_watcher():
        if not BY_HOOK:
            start(60, first=True)
            time.sleep(0.3)


    def test_innocent_1():
        time.sleep(1.5)


    def test_innocent_2():
        time.sleep(1.5)


    def test_innocent_3():
        time.sleep(1.5)
        STOP.set()
"""


@pytest.mark.parametrize("by_hook", [False, True], ids=["by-watcher", "by-hook"])
def test_processes_restarted_between_tests_are_one_cause_on_one_test(
    pytester: pytest.Pytester, gated: Gated, by_hook: bool
) -> None:
    pytester.makeconftest(CHAIN_CONFTEST.format(by_hook=by_hook))
    # Everything the chain started is the first test's (its teardown's, when the hook
    # started the pair after it): no innocent test fails.
    culprit = "test_chain.py::test_leaves_a_watcher"
    result, report = _restarts_blamed_on(pytester, gated, culprit, test_chain=CHAIN_TESTS)
    # The session fails; the first test errors when it left the watcher itself.
    result.assert_outcomes(passed=4, errors=0 if by_hook else 1)
    # The restart inside the first innocent test (its process is left running to the end
    # of the session: not killed, it is not restarted in every later test), and the first
    # test's own process when the test started it.
    processes = [e for e in report["leaks"] if e["kind"] == "process"]
    assert len(processes) == (1 if by_hook else 2), report["leaks"]


# watchdog's suite, the run of issue 14: a test's failed attempt left an AutoRestartTrick
# running, its watcher restarting the process whenever it ended. Links of that chain that
# started between two later tests, or during a session fixture's teardown in the last test,
# were blamed on the test before the gap (named on 16 findings) and on the fixture (failing
# the last test, test_statx). Here the conftest makes the watcher restart on request:
# ``RESTART`` at the places the real chain happened to restart.
LATE_LINKS_CONFTEST = """
    import subprocess
    import sys
    import threading
    import time

    import pytest

    STOP = threading.Event()
    RESTART = threading.Event()
    RESTARTED = threading.Event()
    WHERE = {where!r}


    def watch(proc):
        while proc.poll() is None and not STOP.is_set() and not RESTART.is_set():
            time.sleep(0.02)
        if proc.poll() is None:  # stopped, or asked to restart: as if the process ended
            proc.kill()
            proc.wait()
        if STOP.is_set():
            return
        RESTART.clear()
        start()
        RESTARTED.set()


    def start():
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        threading.Thread(target=watch, args=(proc,), name="watcher", daemon=True).start()


    def restart_now():
        RESTARTED.clear()
        RESTART.set()
        assert RESTARTED.wait(30)


    @pytest.fixture(scope="session", autouse=True)
    def session_resource():
        yield
        if WHERE == "fixture-teardown":
            restart_now()  # a link made in the fixture's teardown, in the last test


    def pytest_runtest_logfinish(nodeid):
        if WHERE == "between-later-tests" and nodeid.endswith("::test_innocent_1"):
            restart_now()  # a link no test sees: after test_innocent_1, before the next


    def pytest_unconfigure():
        STOP.set()  # the watchers end, killing their processes
"""

LATE_LINKS_TESTS = """
    import time

    from conftest import restart_now, start


    def test_leaves_a_watcher():
        start()
        time.sleep(0.3)


    def test_innocent_1():
        pass


    def test_innocent_2():
        restart_now()  # the link started between the tests restarts here


    def test_innocent_3():
        pass
"""


@pytest.mark.parametrize("where", ["between-later-tests", "fixture-teardown"])
def test_restart_chain_links_made_after_later_tests_are_the_first_tests(
    pytester: pytest.Pytester, gated: Gated, where: str
) -> None:
    pytester.makeconftest(LATE_LINKS_CONFTEST.format(where=where))
    culprit = "test_late_links.py::test_leaves_a_watcher"
    result, report = _restarts_blamed_on(pytester, gated, culprit, test_late_links=LATE_LINKS_TESTS)
    # Neither the test before the gap nor the last test (whose teardown finalized the
    # session fixture) fails: only the test that left the watcher running (in teardown).
    result.assert_outcomes(passed=4, errors=1)
    assert not any(entry["fixture"] == "session_resource" for entry in report["leaks"])
    # The late link itself was found: the first process and at least the late one.
    assert len([e for e in report["leaks"] if e["kind"] == "process"]) >= 2, report["leaks"]


# -- a test object pytest let go of, kept alive by another plugin --------------------------

#: What the ``flaky`` plugin (box/flaky) does: it takes the test's object before the
#: protocol and keeps it in a local until the protocol ends, past pytest's teardown, which
#: drops pytest's own reference so that what the object holds goes with it.
KEEPS_TEST_OBJECT = """
    import pytest


    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(item, nextitem):
        test_object = item.instance
        item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        from _pytest.runner import runtestprotocol

        runtestprotocol(item, nextitem=nextitem)
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        assert test_object is not None
        return True
"""

#: pexpect's socket tests: each setUp starts a server in a multiprocessing.Process whose
#: target is a bound method (a reference cycle through the test object), tearDown joins
#: it; the Process's Popen keeps two pipe descriptors as numbers until it is collected.
#: Also a file on the test object (closed when the object goes), and a true leak.
UNITTEST_HOLDERS = """
    import multiprocessing
    import unittest

    KEPT = []


    class Served(unittest.TestCase):
        def setUp(self):
            self.server = multiprocessing.get_context("fork").Process(target=self.serve)
            self.server.start()

        def serve(self):
            pass

        def tearDown(self):
            self.server.join(30)

        def test_server(self):
            pass

        def test_file_on_the_test_object(self):
            self.log = open(__file__)

        def test_true_leak(self):
            KEPT.append(open(__file__))
"""


@pytest.mark.parametrize("plugin", ["alone", "keeps-test-object"])
def test_what_a_released_test_object_holds_is_not_leaked(gated: Gated, plugin: str) -> None:
    """Descriptors held by the test's ``unittest.TestCase`` object, which pytest drops at
    teardown, are not the test's leak even while another plugin still keeps the object
    (pexpect's suite with ``flaky`` installed: 46 pipes blamed on 23 tests); a descriptor
    the test really left open is still reported on it."""
    gated.project('[tool.gridgate.leaks]\naction = "fail"\n', test_served=UNITTEST_HOLDERS)
    if plugin == "keeps-test-object":
        gated.pytester.makeconftest(KEEPS_TEST_OBJECT)
    run = gated.run("-p", "no:randomly")
    leaks = [(e["nodeid"], e["kind"]) for e in run.report["leaks"]]
    assert leaks == [("test_served.py::Served::test_true_leak", "fd")], run.result.outlines
    run.result.assert_outcomes(passed=3, errors=1)


#: Counts the full garbage collections of each test (automatic ones off: only explicit
#: ``gc.collect()`` calls, the gate's among them), written at the end of the session.
COUNTS_FULL_COLLECTIONS = """
    import gc
    import json

    FULL = {}
    _current = [None]


    def _count(phase, info):
        if phase == "start" and info["generation"] == 2 and _current[0]:
            FULL[_current[0]] = FULL.get(_current[0], 0) + 1


    def pytest_sessionstart(session):
        gc.callbacks.append(_count)
        gc.disable()


    def pytest_runtest_logstart(nodeid, location):
        _current[0] = nodeid


    def pytest_runtest_logfinish(nodeid, location):
        _current[0] = None


    def pytest_sessionfinish(session):
        gc.enable()
        gc.callbacks.remove(_count)
        with open("full_collections.json", "w") as file:
            json.dump(FULL, file)
"""


def test_no_full_collection_for_what_a_released_test_object_holds(gated: Gated) -> None:
    """A full collection cannot change the verdict on descriptors held from the test's
    released ``unittest.TestCase`` object (not the test's, garbage or not), so the gate
    runs none for them: on pexpect's heap each cost 15 ms, in 30 of its tests (issue 14's
    CPU target). A test whose descriptor an old object holds still gets one."""
    gated.project('[tool.gridgate.leaks]\naction = "fail"\n', test_served=UNITTEST_HOLDERS)
    gated.pytester.makeconftest(KEEPS_TEST_OBJECT + COUNTS_FULL_COLLECTIONS)
    run = gated.run("-p", "no:randomly", "-k", "test_server or test_true_leak")
    run.result.assert_outcomes(passed=2, errors=1)
    full = json.loads((gated.pytester.path / "full_collections.json").read_text())
    assert "test_served.py::Served::test_server" not in full, full
    # The true leak: a file held by a module-level list (old or not, it is looked at).
    assert [e["nodeid"] for e in run.report["leaks"]] == ["test_served.py::Served::test_true_leak"]


def test_multiprocessing_pipes_are_described_by_their_holder(gated: Gated) -> None:
    """A pipe multiprocessing holds as a plain number is described by its owner (not as
    held by nothing), and a Process kept by the test is reported on it."""
    gated.project(
        '[tool.gridgate.leaks]\naction = "warn"\n',
        test_kept="""
            import multiprocessing

            KEPT = []


            def test_keeps_a_process():
                proc = multiprocessing.get_context("fork").Process(target=print)
                proc.start()
                proc.join(30)
                KEPT.append(proc)
        """,
    )
    run = gated.run()
    details = [e["detail"] for e in run.report["leaks"] if e["kind"] == "fd"]
    assert details, run.result.outlines
    assert all("held by multiprocessing.popen_fork.Popen of process" in d for d in details)
    assert {e["nodeid"] for e in run.report["leaks"]} == {"test_kept.py::test_keeps_a_process"}
