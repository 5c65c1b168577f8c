"""The leak checks under hostile tests, garbage, and the lazy resources of real libraries.

Each inner run is a real pytest subprocess (``runpytest_subprocess``) with the gate on;
what it found is read from its JSON gate report. The inner tests exhaust or close the
process's descriptors, leave sockets and child processes to the garbage collector, and
imitate trio's worker thread cache and libuv's signal pipe.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Gated, GatedRun


def _leaks(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(e["nodeid"].split("::")[-1], e["kind"], e["detail"]) for e in report["leaks"]]


def _gate(report: dict[str, Any], name: str) -> dict[str, Any]:
    [gate] = [gate for gate in report["gates"] if gate["gate"] == name]
    assert isinstance(gate, dict)
    return gate


def _outcomes(report_dir: Path) -> dict[str, str]:
    """Outcome per test from the inner run's JUnit XML: passed, failed, error."""
    import xml.etree.ElementTree as ElementTree

    outcomes = {}
    for case in ElementTree.parse(report_dir / "junit.xml").iter("testcase"):
        tags = {child.tag for child in case}
        outcomes[case.get("name", "")] = (
            "error" if "error" in tags else "failed" if "failure" in tags else "passed"
        )
    return outcomes


# -- item 5: exhausted and closed descriptors ------------------------------------------------


EXHAUSTING = """
    import os
    import resource

    import pytest

    KEEP = []


    @pytest.fixture(scope="module", autouse=True)
    def module_fixture():
        # Checked when finalized, against a baseline from before the exhausting test:
        # what was reported on that test is not reported again on the fixture.
        yield


    def test_exhausts_descriptors():
        # A low soft limit, so that running out is quick; the gate keeps its own spares.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 256), hard))
        try:
            while True:
                KEEP.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass


    def test_clean_after():
        pass


    def test_leaks_a_file_after(tmp_path):
        KEEP.append(open(__file__, "rb"))  # still found: the checks go on working


    def test_clean_last():
        pass
"""


def test_a_test_that_exhausts_descriptors_is_reported_and_the_rest_still_checked(
    pytester: pytest.Pytester, gated: Gated, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_exhausting=EXHAUSTING)
    tmpdir = pytester.path / "tmp"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    result, report = gated.run("--junitxml", "junit.xml", clean=True)
    assert result.ret == 1
    leaks = _leaks(report)
    assert [(name, kind) for name, kind, _ in leaks] == [
        ("test_exhausts_descriptors", "fd"),
        ("test_leaks_a_file_after", "fd"),
    ], leaks
    # One finding for the whole heap of descriptors, not one per descriptor.
    assert "descriptors -> /dev/null" in leaks[0][2], leaks
    assert "test_exhausting.py" in leaks[1][2], leaks
    assert _outcomes(pytester.path) == {
        "test_exhausts_descriptors": "error",
        "test_clean_after": "passed",
        "test_leaks_a_file_after": "error",
        "test_clean_last": "passed",
    }
    assert report.get("leak_check_errors", []) == []
    assert not _gate(report, "leaks")["passed"]
    # The watchdog's files were cleaned up, although the process was out of descriptors.
    assert list(tmpdir.iterdir()) == []


CLOSING = """
    import os

    KEEP = []


    def test_closes_every_descriptor():
        os.closerange(3, 4096)


    def test_clean_after():
        pass


    def test_leaks_a_file_after():
        KEEP.append(open(__file__, "rb"))
"""


def test_a_test_that_closes_the_gates_descriptors_is_reported_and_the_rest_still_checked(
    pytester: pytest.Pytester,
    gated: Gated,
) -> None:
    pytester.makepyfile(test_closing=CLOSING)
    # -s: pytest's own output capture lives on descriptors the test closes, and so does
    # its logging plugin's file handler (both break without gridgate too).
    # (The timeouts gate closes its own copies of stdout and stderr at exit, which the test
    # closed: that traceback comes after the report is written, and is not the leak gate's.)
    result, report = gated.run("-s", "-p", "no:logging", "--junitxml", "junit.xml")
    assert result.ret == 1
    leaks = _leaks(report)
    assert [(name, kind) for name, kind, _ in leaks] == [
        ("test_closes_every_descriptor", "fd"),
        ("test_leaks_a_file_after", "fd"),
    ], leaks
    assert "closed descriptors it did not open" in leaks[0][2]
    assert "test_closing.py" in leaks[1][2]
    assert _outcomes(pytester.path)["test_clean_after"] == "passed"
    gate = _gate(report, "leaks")
    assert not gate["passed"], gate


BROKEN_CHECK = """
    from pytest_gridgate.leaks.base import Leak


    class Broken:
        name = "broken"

        def __init__(self):
            self.calls = 0

        def snapshot(self):
            self.calls += 1
            return self.calls

        def compare(self, before):
            raise OSError(9, "Bad file descriptor")


    def pytest_gridgate_leak_checks(config):
        return [Broken()]
"""


def test_a_check_that_cannot_run_does_not_let_the_verdict_pass(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    pytester.makeconftest(BROKEN_CHECK)
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    result, report = gated.run(clean=True)
    assert result.ret == 1
    gate = _gate(report, "leaks")
    assert not gate["passed"], gate
    assert "failed to run" in gate["summary"], gate
    [error] = report["leak_check_errors"]
    assert error["nodeid"] == "test_one.py::test_one"
    assert "OSError" in error["message"]


# -- items 12 and 13: garbage ----------------------------------------------------------------


# Only the gate collects garbage in these runs: what a test leaves in a reference cycle is
# still there when its teardown is checked, as it is in a big suite's older generations.
NO_AUTOMATIC_GC = """
    import gc

    gc.disable()
"""


def _run_without_automatic_gc(
    pytester: pytest.Pytester,
    gated: Gated,
    leaks: str,
    *args: str,
    clean: bool = False,
    **modules: str,
) -> GatedRun:
    """A gated run of ``modules`` with automatic garbage collection off (only the gate's
    own collections free anything), ``leaks`` as the ``[tool.gridgate.leaks]`` body."""
    pytester.makeconftest(NO_AUTOMATIC_GC)
    pytester.makepyfile(**modules)
    pytester.makepyprojecttoml(f"[tool.gridgate.leaks]\n{leaks}\n")
    return gated.run(*args, clean=clean)


def _kinds(report: dict[str, Any]) -> set[tuple[str, str]]:
    """Each finding's test name and kind."""
    return {(name, kind) for name, kind, _ in _leaks(report)}


GARBAGE_SOCKET = """
    import socket


    class Holder:
        def __init__(self):
            self.me = self
            self.sock = socket.socket()


    def test_leaves_a_socket_in_a_cycle():
        Holder()


    def test_innocent():
        pass
"""


def test_what_the_gates_collection_frees_is_reported_on_the_test_being_checked(
    pytester: pytest.Pytester,
    gated: Gated,
) -> None:
    pytester.makeconftest(NO_AUTOMATIC_GC)
    pytester.makepyfile(test_garbage=GARBAGE_SOCKET)
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    result, report = gated.run("--junitxml", "junit.xml", clean=True)
    outcomes = _outcomes(pytester.path)
    output = result.stdout.str()
    assert outcomes == {"test_leaves_a_socket_in_a_cycle": "error", "test_innocent": "passed"}, (
        output
    )
    assert "ResourceWarning" in output, output
    assert "unclosed" in output, output
    # Freed by the collection: the socket is not a leak of the test (it is its warning).
    assert report["leaks"] == []


SPAWN_IN_CYCLE = """
    import subprocess
    import sys


    class Spawn:
        # Like pexpect's spawn: a child on a pipe, both stopped by __del__.
        def __init__(self):
            self.me = self
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
            )

        def __del__(self):
            self.proc.stdin.close()
            self.proc.kill()
            self.proc.wait()


    def test_spawn_left_in_a_cycle():
        Spawn()


    KEEP = []


    def test_spawn_kept():
        spawn = Spawn()
        del spawn.me
        KEEP.append(spawn)
"""


def test_every_check_judges_after_the_same_collection(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    result, report = _run_without_automatic_gc(
        pytester, gated, "grace = 0.2", clean=True, test_spawn=SPAWN_IN_CYCLE
    )
    kinds = _kinds(report)
    # Garbage: the collection stops the child and closes its pipe before any check judges.
    # Kept: the child and its pipe are both the test's.
    assert kinds == {("test_spawn_kept", "process"), ("test_spawn_kept", "fd")}, report["leaks"]
    result.assert_outcomes(passed=2, errors=1)


# watchdog's suite: a restarted child in each of many tests, its Popen kept by a live thread
# (and old: the suite collects garbage in every test's teardown). Each check ran a full
# collection, which could not free it, tens of milliseconds each. The conftest counts the
# full collections up to the end of the session (pytest's own come at unconfigure).
FULL_COLLECTIONS_CONFTEST = """
    import gc
    import json

    gc.disable()
    FULL = []


    def _count(phase, info):
        if phase == "stop" and info["generation"] == 2:
            FULL.append(1)


    gc.callbacks.append(_count)


    def pytest_sessionfinish(session):
        with open("full-collections.json", "w") as f:
            json.dump(len(FULL), f)
"""

CHILD_KEPT_BY_A_LIVE_OBJECT = """
    import gc
    import subprocess
    import sys

    KEPT = []


    def test_keeps_a_child():
        KEPT.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
        {collect}
"""


@pytest.mark.parametrize("owner", ["young", "old"])
def test_a_child_whose_popen_is_alive_costs_no_full_collection(
    pytester: pytest.Pytester, gated: Gated, owner: str
) -> None:
    pytester.makeconftest(FULL_COLLECTIONS_CONFTEST)
    # "old": the test's own full collection makes the Popen old, as watchdog's teardown does.
    collect = "gc.collect()" if owner == "old" else "pass"
    pytester.makepyfile(test_kept=CHILD_KEPT_BY_A_LIVE_OBJECT.format(collect=collect))
    pytester.makepyprojecttoml("[tool.gridgate.leaks]\ngrace = 0.1\n")
    result, report = gated.run()
    # Still the test's leak, killed by the gate.
    assert [(name, kind) for name, kind, _ in _leaks(report)] == [
        ("test_keeps_a_child", "process")
    ], report["leaks"]
    result.assert_outcomes(passed=1, errors=1)
    # No full collection by the gate: only the test's own, if any.
    expected = 1 if owner == "old" else 0
    assert json.loads((pytester.path / "full-collections.json").read_text()) == expected


FORKED_CHILD_IN_OLD_GARBAGE = """
    import gc
    import os
    import signal
    import time


    class Spawn:
        # Like pexpect's spawn: a child forked without subprocess (no Popen owns it),
        # stopped by __del__.
        def __init__(self):
            self.me = self
            self.stop = os.kill, os.waitpid, signal.SIGKILL  # also at interpreter exit
            self.pid = os.fork()
            if self.pid == 0:
                time.sleep(60)
                os._exit(0)

        def __del__(self):
            kill, waitpid, sigkill = self.stop
            try:
                kill(self.pid, sigkill)
                waitpid(self.pid, 0)
            except OSError:  # the kept one: the gate stopped it already
                pass


    def test_forked_child_in_old_garbage():
        spawn = Spawn()
        gc.collect()  # still reachable: it moves to the oldest generation
        del spawn  # garbage now, where only a full collection finds it


    KEEP = []


    def test_forked_child_kept():
        spawn = Spawn()
        del spawn.me
        KEEP.append(spawn)
"""


def test_a_forked_child_in_old_garbage_is_stopped_by_the_full_collection(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    # pexpect's pty children are forked: no Popen owns them, so no walk of the heap looks
    # for one, and the full collection, which frees an old owner, still runs for them.
    result, report = _run_without_automatic_gc(
        pytester,
        gated,
        "grace = 0.2",
        "-p",
        "no:randomly",
        clean=True,
        test_forked=FORKED_CHILD_IN_OLD_GARBAGE,
    )
    assert _kinds(report) == {("test_forked_child_kept", "process")}, report["leaks"]
    result.assert_outcomes(passed=2, errors=1)


def test_a_fixtures_garbage_is_collected_before_it_is_judged(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    pytester.makeconftest(NO_AUTOMATIC_GC)
    spawn_class = SPAWN_IN_CYCLE.split("def test_spawn_left_in_a_cycle")[0]
    pytester.makepyfile(
        test_fixture_spawn=textwrap.dedent(spawn_class)
        + textwrap.dedent(
            """
            import pytest


            @pytest.fixture(scope="module")
            def spawned():
                spawn = Spawn()
                yield
                del spawn  # garbage: only its own cycle keeps it


            def test_uses_it(spawned):
                pass


            def test_uses_it_last(spawned):
                pass
            """
        )
    )
    pytester.makepyprojecttoml("[tool.gridgate.leaks]\ngrace = 0.2\n")
    result, report = gated.run("-p", "no:randomly", clean=True)
    assert report["leaks"] == []
    result.assert_outcomes(passed=2)


YOUNG_GARBAGE = """
    import gc


    class Cycle:
        def __init__(self, path):
            self.me = self
            self.file = open(path, "w")


    FULL = []
    gc.callbacks.append(
        lambda phase, info: FULL.append(1) if phase == "start" and info["generation"] == 2 else 0
    )


    def test_garbage(tmp_path):
        Cycle(tmp_path / "garbage.txt")


    def test_no_full_collection_was_needed():
        assert FULL == []
"""


def test_young_garbage_costs_no_full_collection(pytester: pytest.Pytester, gated: Gated) -> None:
    pytester.makeconftest(NO_AUTOMATIC_GC)
    pytester.makepyfile(test_young=YOUNG_GARBAGE)
    result, report = gated.run("-p", "no:randomly", clean=True)
    assert report["leaks"] == []
    result.assert_outcomes(passed=2)


# -- item 19: process-wide lazy resources ----------------------------------------------------


# A stand-in for uvloop: the first loop opens libuv's process-wide signal pipe, for good.
FAKE_UVLOOP = """
    import os

    _SIGNAL_PIPE = []


    class Loop:
        def close(self):
            pass


    def new_event_loop():
        if not _SIGNAL_PIPE:
            _SIGNAL_PIPE.extend(os.pipe())
        return Loop()
"""

LAZY_USERS = """
    import threading

    import uvloop  # imported at collection, as test suites do

    STOP = threading.Event()


    def test_first_uvloop_loop():
        uvloop.new_event_loop().close()


    def test_trio_worker_thread_cache():
        # trio's idle workers wait 10 s for the next job, under this name.
        threading.Thread(target=STOP.wait, name="Trio thread 1", daemon=True).start()


    KEEP = []


    def test_lazy_log_file(tmp_path):
        KEEP.append(open(tmp_path / "lazy.log", "w"))


    def test_other_file(tmp_path):
        KEEP.append(open(tmp_path / "other.log", "w"))
"""


def test_known_lazy_resources_and_configured_ones_are_nobodys_leak(
    pytester: pytest.Pytester,
    gated: Gated,
) -> None:
    pytester.makepyfile(uvloop=FAKE_UVLOOP, test_lazy=LAZY_USERS)
    pytester.makepyprojecttoml(
        textwrap.dedent(
            """
            [tool.gridgate.leaks]
            ignore = { fds = ["*/lazy.log"] }
            """
        )
    )
    result, report = gated.run("-p", "no:randomly", clean=True)
    assert [(name, kind) for name, kind, _ in _leaks(report)] == [("test_other_file", "fd")]
    result.assert_outcomes(passed=4, errors=1)


def test_ignore_fds_must_be_a_list_of_patterns(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one():\n    pass\n")
    pytester.makepyprojecttoml('[tool.gridgate.leaks]\nignore = { fds = "pipe:*" }\n')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == 4
    assert "leaks.ignore.fds" in result.stderr.str() + result.stdout.str()


LIVE_AND_OLD_HOLDERS = """
    import gc
    import socket


    class Cycle:
        def __init__(self, path):
            self.me = self
            self.file = open(path, "w")


    FULL = []
    gc.callbacks.append(
        lambda phase, info: FULL.append(1) if phase == "start" and info["generation"] == 2 else 0
    )
    KEPT = []


    def test_keeps_a_socket():
        KEPT.append(socket.socket())  # open, and held by a live object: a leak


    def test_no_full_collection_was_needed():
        assert FULL == []


    def test_old_garbage(tmp_path):
        cycle = Cycle(tmp_path / "old.txt")
        gc.collect()  # the cycle is still reachable: it moves to the oldest generation
        FULL.clear()
        del cycle  # garbage now, in the oldest generation


    def test_the_old_garbage_took_a_full_collection():
        assert FULL
"""


def test_a_live_holder_costs_no_full_collection_and_old_garbage_still_gets_one(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    # anyio's suite: a socket a test left open (held by a live object) cost a walk of the
    # whole heap and a full collection, 30 % of the run's CPU in its socket tests.
    result, report = _run_without_automatic_gc(
        pytester, gated, 'action = "warn"', "-p", "no:randomly", test_holders=LIVE_AND_OLD_HOLDERS
    )
    assert _kinds(report) == {("test_keeps_a_socket", "socket")}, report["leaks"]
    result.assert_outcomes(passed=4)


DETACHED_SOCKET = """
    import socket


    def test_detaches_a_listening_socket():
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        sock.detach()  # the descriptor stays open, no Python object holds it
"""


def test_a_socket_is_described_from_its_descriptor(pytester: pytest.Pytester, gated: Gated) -> None:
    pytester.makepyfile(test_detached=DETACHED_SOCKET)
    pytester.makepyprojecttoml('[tool.gridgate.leaks]\naction = "warn"\n')
    _, report = gated.run()
    [(name, kind, detail)] = _leaks(report)
    assert (name, kind) == ("test_detaches_a_listening_socket", "socket")
    assert re.search(r"\(TCP socket \('127\.0\.0\.1', \d+\)\)$", detail), detail


OLD_SOCKETS = """
    import gc
    import socket

    FULL = []
    gc.callbacks.append(
        lambda phase, info: FULL.append(1) if phase == "start" and info["generation"] == 2 else 0
    )
    KEPT = []


    def test_keeps_an_old_socket():
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        KEPT.append(sock)  # open, and held by a live object: a leak
        gc.collect(1)  # as a test that allocates: the socket is in the oldest generation
        FULL.clear()


    def test_no_full_collection_was_needed():
        assert FULL == []
"""


def test_a_socket_in_the_old_generation_costs_no_full_collection(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    # anyio's suite: each test that left a socket in an older object cost one full
    # collection (tens of milliseconds on its heap), only to find the socket still open.
    result, report = _run_without_automatic_gc(
        pytester, gated, 'action = "warn"', "-p", "no:randomly", test_old=OLD_SOCKETS
    )
    [(name, kind, detail)] = _leaks(report)
    assert (name, kind) == ("test_keeps_an_old_socket", "socket")
    # Described from its descriptor, without its Python object.
    assert re.search(r"\(TCP socket \('127\.0\.0\.1', \d+\)\)$", detail), detail
    result.assert_outcomes(passed=2)
