"""The process module (``pytest_gridgate.process_tree``), on real processes: the tree walk,
kill with a grace, reaping. Every process is started by the test and ended by pid.

Nothing here measures wall time: waits are for a state (a pid gone, a line printed), and
a hang is caught by the outer ``--timeout``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest

from pytest_gridgate import process_tree

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process trees")

# A process that starts a grandchild (`sleep`) and says the grandchild's pid once the
# grandchild's exec is complete (its command line is there).
_WITH_GRANDCHILD = [
    sys.executable,
    "-c",
    textwrap.dedent(
        """
        import subprocess, time
        p = subprocess.Popen(["sleep", "600"])
        while not open(f"/proc/{p.pid}/cmdline", "rb").read():
            time.sleep(0.01)
        print(p.pid, flush=True)
        time.sleep(600)
        """
    ),
]
# A process that says it is ready and waits.
_SLEEPER = [sys.executable, "-c", "print('ready', flush=True); import time; time.sleep(600)"]
# A process that ignores SIGTERM, and says so once it does.
_IGNORES_TERM = textwrap.dedent(
    """
    import signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ready", flush=True)
    time.sleep(600)
    """
)
# A process that ends itself cleanly on SIGTERM (exit status 3, so we know it was TERM).
_ENDS_ON_TERM = textwrap.dedent(
    """
    import signal, sys, time
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
    print("ready", flush=True)
    time.sleep(600)
    """
)


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; whatever is left of them is killed by pid afterwards."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        for pid in process_tree.descendants(proc.pid):
            _kill(pid)
        _kill(proc.pid)
        proc.wait(timeout=60)


def _kill(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


def _start(
    procs: list[subprocess.Popen[str]], argv: list[str]
) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    procs.append(proc)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()  # the process is ready once it has said so


def _gone(pid: int) -> bool:
    return not os.path.exists(f"/proc/{pid}") or not process_tree.is_running(pid)


def test_descendants_finds_grandchildren(started: list[subprocess.Popen[str]]) -> None:
    child, said = _start(started, _WITH_GRANDCHILD)
    grandchild = int(said)

    assert process_tree.children(child.pid) == [grandchild]
    assert process_tree.descendants(child.pid) == [grandchild]
    # From this process down: the child comes before its own child.
    mine = process_tree.descendants(os.getpid())
    assert mine.index(child.pid) < mine.index(grandchild)
    # A spared process is left out with everything below it.
    assert child.pid not in process_tree.descendants(os.getpid(), spare=child.pid)
    assert grandchild not in process_tree.descendants(os.getpid(), spare=child.pid)


def test_kill_tree_kills_and_reaps_the_whole_tree(started: list[subprocess.Popen[str]]) -> None:
    child, said = _start(started, _WITH_GRANDCHILD)
    grandchild = int(said)

    result = process_tree.kill_tree(child.pid, include_root=True)

    assert result.survivors == []
    assert {line.split()[1] for line in result.killed} == {str(child.pid), str(grandchild)}
    assert any("sleep 600" in line for line in result.killed)
    assert _gone(grandchild)
    # Our child was reaped by kill_tree: no zombie left, nothing for us to wait for.
    assert not os.path.exists(f"/proc/{child.pid}")
    with pytest.raises(ChildProcessError):
        os.waitpid(child.pid, os.WNOHANG)


def test_kill_with_grace_escalates_from_term_to_kill(
    started: list[subprocess.Popen[str]],
) -> None:
    stubborn, said = _start(started, [sys.executable, "-c", _IGNORES_TERM])
    assert said == "ready"

    result = process_tree.kill_tree(stubborn.pid, include_root=True, grace=0.2)

    assert result.survivors == []
    assert len(result.killed) == 1
    # Reaped by kill_tree; its status (killed by SIGKILL, not TERM) is gone with it, so
    # look at what the kernel says: no such process.
    assert not os.path.exists(f"/proc/{stubborn.pid}")


def test_kill_with_grace_lets_a_process_end_on_term(started: list[subprocess.Popen[str]]) -> None:
    # The child's own parent (a shell) waits for it and reports how it ended.
    script = f"{sys.executable} -c '{_ENDS_ON_TERM}'; echo status $?; sleep 600"
    shell, _ = _start(started, ["sh", "-c", f"echo started; {script}"])
    assert shell.stdout is not None
    assert shell.stdout.readline().strip() == "ready"
    [python] = process_tree.children(shell.pid)

    result = process_tree.kill_tree(python, include_root=True, grace=60)

    assert result.survivors == []
    assert len(result.killed) == 1
    assert shell.stdout.readline().strip() == "status 3"  # ended by its TERM handler


def test_since_spares_processes_started_before(started: list[subprocess.Popen[str]]) -> None:
    old, _ = _start(started, _SLEEPER)
    old_started = process_tree.start_time(old.pid)
    assert old_started is not None
    # The clock ticks (10 ms): wait until the next tick is certain to be later.
    while process_tree.since_boot() < old_started + 0.1:
        time.sleep(0.01)
    since = process_tree.since_boot()
    new, _ = _start(started, _SLEEPER)

    result = process_tree.kill_tree(os.getpid(), since=since)

    assert [line.split()[1] for line in result.killed] == [str(new.pid)]
    assert process_tree.is_running(old.pid)


def test_a_reused_pid_is_not_killed(started: list[subprocess.Popen[str]]) -> None:
    proc, _ = _start(started, _SLEEPER)
    real = process_tree.start_time(proc.pid)
    assert real is not None

    # Another process under the same pid would have started at another time.
    result = process_tree.kill_tree(proc.pid, include_root=True, root_started=real - 1)

    assert result.killed == []
    assert process_tree.is_running(proc.pid)


def test_a_zombie_is_seen_and_reaped() -> None:
    child = subprocess.Popen(["true"])
    # Exited, not waited for: a zombie, until reaped.
    while process_tree.is_running(child.pid):
        time.sleep(0.01)
    assert os.path.exists(f"/proc/{child.pid}")  # still in the process table

    assert process_tree.reap(child.pid)

    assert not os.path.exists(f"/proc/{child.pid}")
    assert process_tree.reap(child.pid)  # gone for us: nothing left to reap
    child.returncode = 0


def test_wait_gone_reports_survivors(started: list[subprocess.Popen[str]]) -> None:
    proc, _ = _start(started, [sys.executable, "-c", _IGNORES_TERM])
    os.kill(proc.pid, signal.SIGTERM)  # ignored

    assert process_tree.wait_gone([proc.pid], 0.05) == [proc.pid]
    os.kill(proc.pid, signal.SIGKILL)
    assert process_tree.wait_gone([proc.pid], 60) == []


def test_command_names_the_process(started: list[subprocess.Popen[str]]) -> None:
    child, said = _start(started, _WITH_GRANDCHILD)
    assert process_tree.command(int(said)) == "sleep 600"
    assert process_tree.command(child.pid).startswith(sys.executable)
    assert process_tree.start_time(int(said)) is not None
    assert process_tree.start_ticks(int(said)) is not None


def test_out_of_descriptors_is_raised_not_taken_for_gone() -> None:
    # A process out of descriptors cannot read /proc: that says nothing about the process
    # read (the leaks gate retries with its spare descriptors on this error).
    script = textwrap.dedent(
        """
        import errno, os, resource
        from pytest_gridgate import process_tree

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
        held = []
        try:
            while True:
                held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError as exc:
            assert exc.errno == errno.EMFILE
        for read in (process_tree.children, process_tree.start_time, process_tree.name):
            try:
                read(os.getpid())
            except OSError as exc:
                assert exc.errno == errno.EMFILE, exc
            else:
                raise AssertionError(f"{read.__name__} took EMFILE for an answer")
        print("raised")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=240
    )
    assert done.stdout == "raised\n", done.stderr
