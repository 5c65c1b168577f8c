"""Each leak check, driven directly in this process on real resources.

A check is built as the detector builds it, snapshotted, then a real thread, child process,
descriptor, socket, variable, working directory, signal handler or event loop is left
behind; ``compare`` must name it, and the leak's own ``cleanup`` must undo it (what a
cleanup leaves is undone by the test). The pytester runs of tests/test_leaks.py and
tests/test_leak_checks.py cover the same checks inside the gate, with attribution,
fixtures, hostile tests and garbage; this module pins down what each check itself says.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from pytest_gridgate.leaks import garbage, tracking
from pytest_gridgate.leaks.asyncio_loops import AsyncioCheck
from pytest_gridgate.leaks.base import Leak, LeakCheck
from pytest_gridgate.leaks.cwd import CwdCheck
from pytest_gridgate.leaks.environ import EnvironCheck
from pytest_gridgate.leaks.fds import FdCheck
from pytest_gridgate.leaks.processes import ProcessCheck
from pytest_gridgate.leaks.signals import SignalCheck
from pytest_gridgate.leaks.threads import ThreadCheck

HERE = str(Path(__file__).resolve())
VARIABLE = "GRIDGATE_DIRECT_CHECK_VARIABLE"


@pytest.fixture(autouse=True)
def _installed() -> None:
    tracking.install()  # what the detector does first: the checks read its counters


@pytest.fixture
def sleeping() -> Iterator[Any]:
    """``sleeping(seconds)``: a running ``sleep`` child, killed and waited for after the test."""
    children: list[subprocess.Popen[bytes]] = []

    def start(seconds: str) -> subprocess.Popen[bytes]:
        children.append(subprocess.Popen(["sleep", seconds]))
        # Popen returns once the exec began; the kernel shows the new command line a moment
        # later (until then /proc reads it empty, and the check knows the name only).
        _until(lambda: psutil.Process(children[-1].pid).cmdline(), "the command line shows")
        return children[-1]

    yield start
    for child in children:
        child.kill()
        child.wait(timeout=60)


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def _until(condition: Any, what: str) -> None:
    """Wait for ``condition()`` (a process to exit); a generous deadline, not a threshold."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def _ended(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_every_builtin_check_is_a_leak_check() -> None:
    checks = [
        ThreadCheck(),
        ProcessCheck(),
        ProcessCheck(processes=False),
        FdCheck(),
        EnvironCheck(),
        CwdCheck(),
        SignalCheck(),
        AsyncioCheck(),
    ]
    assert all(isinstance(check, LeakCheck) for check in checks)
    assert [check.name for check in checks] == [
        "threads",
        "processes",
        "zombies",
        "fds",
        "environ",
        "cwd",
        "signals",
        "asyncio",
    ]


# -- threads ------------------------------------------------------------------------------


def test_threads_a_running_thread_is_named_with_its_target_and_place(
    stop: threading.Event,
) -> None:
    check = ThreadCheck()
    before = check.snapshot()
    assert check.compare(before) == []
    thread = threading.Thread(target=stop.wait, name="left-running", daemon=True)
    thread.start()
    [leak] = check.compare(before)
    assert (leak.kind, leak.key, leak.pending) == ("thread", ("thread", id(thread)), True)
    assert leak.detail.startswith("thread 'left-running' still running (target Event.wait")
    assert leak.origin is not None
    assert leak.origin.startswith(f"{HERE}:")
    assert leak.detail.endswith(", daemon)")
    stop.set()
    thread.join()
    assert check.compare(before) == []  # ended: nothing left


def test_threads_a_non_daemon_thread_blocks_exit_and_a_threads_thread_has_its_parent(
    stop: threading.Event,
) -> None:
    check = ThreadCheck()
    before = check.snapshot()
    children: list[threading.Thread] = []

    def parent_body() -> None:
        child = threading.Thread(target=stop.wait, name="child")
        child.start()
        children.append(child)
        stop.wait()

    parent = threading.Thread(target=parent_body, name="parent")
    parent.start()
    _until(lambda: children, "the child thread started")
    leaks = {leak.key: leak for leak in check.compare(before)}
    assert set(leaks) == {("thread", id(parent)), ("thread", id(children[0]))}
    child = leaks["thread", id(children[0])]
    assert child.parent == ("thread", id(parent))
    assert "non-daemon: blocks interpreter exit" in child.detail
    assert [leak.key for leak in check.alive()] == list(leaks)  # (start order)
    stop.set()
    parent.join()
    children[0].join()


def test_threads_ignored_by_name(stop: threading.Event) -> None:
    check = ThreadCheck(ignore=("pool-*",))
    before = check.snapshot()
    thread = threading.Thread(target=stop.wait, name="pool-1", daemon=True)
    thread.start()
    assert check.compare(before) == []
    stop.set()
    thread.join()


# -- processes and zombies -----------------------------------------------------------------


def test_processes_a_running_child_is_named_and_killed_with_its_tree() -> None:
    check = ProcessCheck()
    before = check.snapshot()
    assert check.compare(before) == []
    child = subprocess.Popen(["/bin/sh", "-c", "sleep 301 & sleep 302; wait"])
    try:
        _until(lambda: len(psutil.Process(child.pid).children()) == 2, "both sleeps started")
        grandchildren = psutil.Process(child.pid).children()
        [leak] = check.compare(before)
        assert (leak.kind, leak.key[0], leak.pending) == ("process", child.pid, True)
        assert leak.detail == (
            f"pid {child.pid} '/bin/sh -c sleep 301 & sleep 302; wait' still running"
            " with 2 descendant(s)"
        )
        assert leak.cleanup is not None
        assert leak.cleanup()
        # Killed and reaped, with its descendants (subprocess finds it reaped already; the
        # descendants are init's to reap).
        assert not psutil.pid_exists(child.pid)
        _until(lambda: all(map(_ended, grandchildren)), "the descendants ended")
    finally:
        child.kill()
        child.wait(timeout=60)


def test_processes_kill_false_reports_without_a_cleanup(sleeping: Any) -> None:
    check = ProcessCheck(kill=False)
    before = check.snapshot()
    child = sleeping("303")
    [leak] = check.compare(before)
    assert leak.key[0] == child.pid
    assert leak.cleanup is None


def test_processes_ignored_by_command_line(sleeping: Any) -> None:
    check = ProcessCheck(ignore=("sleep 304",))
    before = check.snapshot()
    sleeping("304")
    assert check.compare(before) == []


def test_zombies_an_exited_child_nobody_waited_for_is_reaped() -> None:
    check = ProcessCheck(processes=False)
    before = check.snapshot()
    child = subprocess.Popen(["true"])
    _until(lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE, "it exited")
    [leak] = check.compare(before)
    assert (leak.kind, leak.key[0]) == ("zombie", child.pid)
    assert leak.detail == f"pid {child.pid} 'true' exited but was never waited for"
    assert leak.cleanup is not None
    assert leak.cleanup()
    assert not psutil.pid_exists(child.pid)
    child.wait(timeout=60)  # already reaped: subprocess notes it


def test_zombies_are_not_running_processes(sleeping: Any) -> None:
    check = ProcessCheck(processes=False)
    before = check.snapshot()
    sleeping("305")
    assert check.compare(before) == []


# -- descriptors -----------------------------------------------------------------------------


def test_fds_a_kept_file_and_socket_are_named_with_their_holders(tmp_path: Path) -> None:
    check = FdCheck()
    before = check.baseline()
    assert check.compare(before) == []
    kept = open(tmp_path / "kept.txt", "w")  # noqa: SIM115 - left open on purpose
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        leaks = sorted(check.compare(before), key=lambda leak: leak.kind)
        assert [leak.kind for leak in leaks] == ["fd", "socket"]
        file_leak, socket_leak = leaks
        assert file_leak.detail.startswith(f"fd {kept.fileno()} -> {tmp_path / 'kept.txt'} (")
        assert f"(file object '{tmp_path / 'kept.txt'}' mode 'wb')" in file_leak.detail
        assert socket_leak.detail.startswith(f"fd {sock.fileno()} -> socket:[")
    finally:
        kept.close()
        sock.close()
    assert check.compare(before) == []


def test_fds_ignored_by_target(tmp_path: Path) -> None:
    check = FdCheck(ignore=(f"{tmp_path}/*.log",))
    before = check.baseline()
    with open(tmp_path / "app.log", "w"):
        assert check.compare(before) == []


def test_fds_closing_the_gates_own_descriptors_is_reported() -> None:
    # The check lists descriptors through a directory descriptor of its own; a test that
    # closed it (os.closerange) is named, and the check opens another.
    check = FdCheck()
    before = check.snapshot()
    from pytest_gridgate.leaks import fds

    own = fds._dir_fd[0]
    if own < 0:
        pytest.skip("no directory descriptor on this platform (the listing is read whole)")
    os.close(own)
    [leak] = check.compare(before)
    assert leak.kind == "fd"
    assert leak.detail.startswith("closed descriptors it did not open, the leak gate's own")
    assert fds._dir_fd[0] >= 0  # open again


# -- garbage ------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_garbage_one_collection_closes_what_a_cycle_held_before_the_fds_check_judges() -> None:
    check = FdCheck()
    enabled = gc.isenabled()
    gc.disable()
    try:
        before = check.baseline()

        class Holder:
            pass

        holder = Holder()
        holder.sock = socket.socket()  # type: ignore[attr-defined]
        holder.cycle = holder  # type: ignore[attr-defined]
        del holder
        assert [leak.kind for leak in check.compare(before)] == ["socket"]
        assert garbage.collect_for([(check, before)])
        assert check.compare(before) == []
        assert not garbage.collect_for([(check, before)])  # nothing wants it any more
    finally:
        if enabled:
            gc.enable()


# -- environ -------------------------------------------------------------------------------------


def test_environ_added_changed_removed_by_name_only_and_restored() -> None:
    os.environ[VARIABLE + "_CHANGED"] = "old-value"
    os.environ[VARIABLE + "_REMOVED"] = "kept-value"
    check = EnvironCheck()
    before = check.snapshot()
    assert check.compare(before) == []
    try:
        os.environ[VARIABLE + "_ADDED"] = "secret-value"  # set-added
        os.environ[VARIABLE + "_CHANGED"] = "new-value"
        del os.environ[VARIABLE + "_REMOVED"]
        leaks = check.compare(before)
        assert [leak.detail for leak in leaks] == [
            f"{VARIABLE}_ADDED added",
            f"{VARIABLE}_CHANGED changed",
            f"{VARIABLE}_REMOVED removed",
        ]
        assert not any("value" in leak.detail for leak in leaks)  # never the values
        lines = Path(HERE).read_text().splitlines()
        [line] = [n for n, text in enumerate(lines, 1) if text.endswith("# set-added")]
        assert leaks[0].origin == f"{HERE}:{line}"
        for leak in leaks:
            assert leak.cleanup is not None
            assert leak.cleanup()
        assert VARIABLE + "_ADDED" not in os.environ
        assert os.environ[VARIABLE + "_CHANGED"] == "old-value"
        assert os.environ[VARIABLE + "_REMOVED"] == "kept-value"
        assert check.compare(check.snapshot()) == []
    finally:
        for suffix in ("_ADDED", "_CHANGED", "_REMOVED"):
            os.environ.pop(VARIABLE + suffix, None)


def test_environ_rebound_is_one_leak_and_rebound_back() -> None:
    check = EnvironCheck()
    before = check.snapshot()
    original = os.environ
    os.environ = dict(original)  # type: ignore[assignment]  # noqa: B003 - the leak under test
    try:
        [leak] = check.compare(before)
        assert leak.detail == "os.environ rebound to a new object"
        assert leak.cleanup is not None
        assert leak.cleanup()
        assert os.environ is original
    finally:
        os.environ = original  # noqa: B003


def test_environ_ignored_by_pattern() -> None:
    check = EnvironCheck(ignore=(VARIABLE + "*",))
    before = check.snapshot()
    try:
        os.environ[VARIABLE] = "1"
        assert check.compare(before) == []
    finally:
        del os.environ[VARIABLE]


# -- cwd, signals, asyncio ----------------------------------------------------------------------


def test_cwd_changed_is_named_with_its_place_and_changed_back(tmp_path: Path) -> None:
    check = CwdCheck()
    before = check.snapshot()
    start = os.getcwd()
    try:
        os.chdir(tmp_path)
        [leak] = check.compare(before)
        assert leak.detail == f"working directory changed from {start} to {tmp_path}"
        assert leak.origin is not None
        assert leak.origin.startswith(f"{HERE}:")
        assert leak.cleanup is not None
        assert leak.cleanup()
        assert os.getcwd() == start
    finally:
        os.chdir(start)


def test_signals_a_changed_handler_is_named_and_restored() -> None:
    def on_usr2(signum: int, frame: object) -> None:
        pass

    check = SignalCheck()
    before = check.snapshot()
    previous = signal.signal(signal.SIGUSR2, on_usr2)
    try:
        [leak] = check.compare(before)
        assert leak.key == ("signal", signal.SIGUSR2)
        assert leak.detail.startswith("handler for SIGUSR2 changed from ")
        assert "on_usr2" in leak.detail
        assert leak.origin is not None
        assert leak.origin.startswith(f"{HERE}:")
        assert leak.cleanup is not None
        assert leak.cleanup()
        assert signal.getsignal(signal.SIGUSR2) == previous
    finally:
        signal.signal(signal.SIGUSR2, previous)


def test_signals_sigalrm_only_on_request() -> None:
    if tracking.SIGALRM is None:
        pytest.skip("no SIGALRM on this platform")
    without, with_alarm = SignalCheck(include_sigalrm=False), SignalCheck()
    before = (without.snapshot(), with_alarm.snapshot())
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: None)
    try:
        assert without.compare(before[0]) == []
        assert [leak.key for leak in with_alarm.compare(before[1])] == [
            ("signal", tracking.SIGALRM)
        ]
    finally:
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.filterwarnings("ignore:coroutine 'sleep' was never awaited:RuntimeWarning")
def test_asyncio_an_open_loop_with_pending_tasks_left_current_is_closed_and_unset() -> None:
    check = AsyncioCheck()
    before = check.snapshot()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        task = loop.create_task(asyncio.sleep(60), name="forgotten")
        [leak] = check.compare(before)
        assert leak.detail == (
            f"event loop {type(loop).__name__} left open and set as current,"
            " 1 pending task(s): forgotten"
        )
        assert leak.cleanup is not None
        assert leak.cleanup()
        assert loop.is_closed()
        assert not task.done()  # closed with the loop, never run
        assert check.snapshot() is before
    finally:
        asyncio.set_event_loop(before)
        loop.close()


def test_asyncio_a_closed_loop_left_current() -> None:
    check = AsyncioCheck()
    before = check.snapshot()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.close()
    try:
        [leak] = check.compare(before)
        assert leak.detail == f"closed event loop {type(loop).__name__} left set as current"
    finally:
        asyncio.set_event_loop(before)


def test_a_leak_is_identified_by_kind_key_detail_and_pending() -> None:
    one = Leak("fd", ("fd", 5, "/x"), "fd 5 -> /x", cleanup=lambda: True)
    assert one == Leak("fd", ("fd", 5, "/x"), "fd 5 -> /x", origin="elsewhere")
    assert one != Leak("fd", ("fd", 5, "/x"), "fd 5 -> /x", pending=True)
    assert len({one, Leak("fd", ("fd", 5, "/x"), "fd 5 -> /x")}) == 1
