"""One leaking test per leak kind: `gridgate check examples/` reports each of them.

Every test passes on its own; gridgate turns each teardown into an error that names what
was left behind (leaks.action = "fail" in examples/pyproject.toml), then cleans it up.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading

_KEEP: list[object] = []  # what a careless test keeps alive at module level


def test_leaks_a_thread() -> None:
    stop = threading.Event()
    _KEEP.append(stop)
    threading.Thread(target=stop.wait, name="demo-poller", daemon=True).start()


def test_leaks_a_process() -> None:
    _KEEP.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]))


def test_leaks_a_zombie() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    _KEEP.append(proc)
    # Wait for the exit without reaping it (proc.poll() would reap).
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)


def test_leaks_a_file(tmp_path: object) -> None:
    _KEEP.append(open(os.devnull))  # noqa: SIM115


def test_leaks_a_socket() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    _KEEP.append(server)


def test_leaks_an_environment_variable() -> None:
    os.environ["DEMO_LEAKED_TOKEN"] = "secret value, never printed"


def test_leaks_the_working_directory(tmp_path: os.PathLike[str]) -> None:
    os.chdir(tmp_path)


def test_leaks_a_signal_handler() -> None:
    signal.signal(signal.SIGUSR1, lambda signum, frame: None)


def test_leaks_an_event_loop() -> None:
    asyncio.set_event_loop(asyncio.new_event_loop())
