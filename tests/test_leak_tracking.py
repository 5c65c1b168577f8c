"""The leak tracking (``pytest_gridgate.leaks.tracking``), driven directly in this process.

The wrappers it installs are process-wide and installed once; they are installed here even
when the suite runs without its own gate. Every test starts real threads and processes,
changes real variables, the working directory and signal handlers, reads the counters and
the places they record, and undoes what it changed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_gridgate.leaks import tracking

HERE = Path(__file__).resolve()


def _line_of(marker: str) -> str:
    """``file:line`` of the line of this file holding ``marker`` (its only other place is
    the caller's argument)."""
    lines = HERE.read_text().splitlines()
    [number] = [n for n, line in enumerate(lines, 1) if marker in line and "_line_of" not in line]
    return f"{HERE}:{number}"


@pytest.fixture(autouse=True)
def _installed() -> None:
    tracking.install()


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def test_install_twice_wraps_once() -> None:
    tracking.install()
    start = threading.Thread.start
    assert getattr(start, "_gridgate", False)
    assert not getattr(start.__wrapped__, "_gridgate", False)  # type: ignore[attr-defined]
    assert not getattr(os.putenv.__wrapped__, "_gridgate", False)  # type: ignore[attr-defined]


def test_every_thread_start_is_counted_and_stamped(stop: threading.Event) -> None:
    before = tracking.thread_start_count()
    thread = threading.Thread(target=stop.wait, name="tracked")
    thread.start()  # tracked-thread-start
    assert tracking.thread_start_count() == before + 1
    assert tracking.start_number(thread) == before + 1
    assert tracking.started_at(thread) == _line_of("# tracked-thread-start")
    assert tracking.parent_number(thread) == tracking.start_number(threading.current_thread())
    stop.set()
    thread.join()


def test_a_threads_thread_names_its_parent(stop: threading.Event) -> None:
    children: list[threading.Thread] = []

    def parent_body() -> None:
        child = threading.Thread(target=stop.wait, name="child")
        child.start()
        children.append(child)

    parent = threading.Thread(target=parent_body, name="parent")
    parent.start()
    parent.join()
    [child] = children
    assert tracking.parent_number(child) == tracking.start_number(parent) > 0
    assert tracking.start_number(child) > tracking.start_number(parent)
    stop.set()
    child.join()


def test_threads_started_before_install_have_no_number() -> None:
    assert tracking.start_number(threading.main_thread()) == 0
    assert tracking.started_at(threading.main_thread()) is None


def test_process_starts_are_counted() -> None:
    before = tracking.spawn_count()
    subprocess.run([sys.executable, "-c", "pass"], check=True, timeout=60)
    assert tracking.spawn_count() == before + 1
    pid = os.posix_spawn("/bin/true", ["true"], dict(os.environ))
    os.waitpid(pid, 0)
    assert tracking.spawn_count() == before + 2


def test_environment_changes_are_counted_with_their_place() -> None:
    name = "GRIDGATE_TRACKING_TEST_VARIABLE"
    before = tracking.environ_change_count()
    try:
        os.environ[name] = "1"  # tracked-environ-set
        assert tracking.environ_change_count() == before + 1
        assert tracking.environ_site(os.fsencode(name)) == _line_of("# tracked-environ-set")
    finally:
        del os.environ[name]  # tracked-environ-del
    assert tracking.environ_change_count() == before + 2
    assert tracking.environ_site(os.fsencode(name)) == _line_of("# tracked-environ-del")


def test_pytests_own_per_test_variable_moves_nothing() -> None:
    before = tracking.environ_change_count()
    previous = os.environ.get(tracking.PER_PHASE_VARIABLE)
    os.environ[tracking.PER_PHASE_VARIABLE] = "x"
    if previous is None:
        del os.environ[tracking.PER_PHASE_VARIABLE]
    else:
        os.environ[tracking.PER_PHASE_VARIABLE] = previous
    assert tracking.environ_change_count() == before


def test_the_working_directory_is_kept_with_its_place(tmp_path: Path) -> None:
    start = os.getcwd()
    try:
        os.chdir(tmp_path)  # tracked-chdir
        assert tracking.current_cwd() == str(tmp_path) == tracking.read_cwd()
        assert tracking.site_of(("cwd",)) == _line_of("# tracked-chdir")
    finally:
        os.chdir(start)
    assert tracking.current_cwd() == start


def test_a_removed_working_directory_is_named(tmp_path: Path) -> None:
    start = os.getcwd()
    gone = tmp_path / "gone"
    gone.mkdir()
    try:
        os.chdir(gone)
        gone.rmdir()
        assert tracking.read_cwd() == "<removed directory>"
    finally:
        os.chdir(start)


def test_signal_handlers_are_kept_with_their_place() -> None:
    def handler(signum: int, frame: object) -> None:
        pass

    before = tracking.watched_handlers()
    previous = signal.signal(signal.SIGUSR1, handler)  # tracked-signal
    try:
        now = tracking.watched_handlers()
        assert now != before
        assert now == tracking.read_handlers()
        assert handler in now
        assert tracking.site_of(("signal", signal.SIGUSR1)) == _line_of("# tracked-signal")
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert tracking.watched_handlers() == before


def test_a_fresh_import_replaces_the_wrappers_of_the_dropped_module() -> None:
    # pytester's in-process runs drop the modules imported during a run, so the next run
    # imports the tracking afresh: its wrappers must replace the first ones, not wrap them.
    script = """
import importlib, os, subprocess, sys, threading
from pytest_gridgate.leaks import tracking as first
first.install()
for name in [n for n in sys.modules if n.startswith("pytest_gridgate")]:
    del sys.modules[name]
from pytest_gridgate.leaks import tracking as second
assert second is not first
second.install()
depth, start = 0, threading.Thread.start
while getattr(start, "_gridgate", False):
    depth, start = depth + 1, start.__wrapped__
threads, spawns = first.thread_start_count(), first.spawn_count()
threading.Thread(target=lambda: None).start()
subprocess.run([sys.executable, "-c", "pass"], check=True, timeout=60)
print(depth, second.thread_start_count(), second.spawn_count() > 0,
      first.thread_start_count() == threads, first.spawn_count() == spawns)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1", "True", "True", "True"]
