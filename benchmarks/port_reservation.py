"""Concurrent processes taking and binding ports: gridgate_port's reservation against the
usual "bind to port 0, close, hand the number on" trick.

Each of PROCESSES processes takes PORTS ports one after another and binds a listening
socket on each (without SO_REUSEADDR, as a server that does not ask for it would), keeping
the last WINDOW of them bound and reserved, like tests running side by side. A port that
another process was given and still holds fails the bind with EADDRINUSE.

    python benchmarks/port_reservation.py [--processes 8] [--ports 1000] [--method both]

Prints per method the EADDRINUSE count and the time per port; exit 1 when gridgate's
reservation had any EADDRINUSE. tests/test_ports.py runs the gridgate method at full size.
"""

from __future__ import annotations

import argparse
import errno
import socket
import subprocess
import sys
import time
from collections import deque

WINDOW = 20
# Between taking a port and binding it: a server process starting up.
GAP = 0.002


def _bind_zero_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def worker(method: str, ports: int, start_at: float) -> None:
    """One process: take, bind and hold ports; prints 'collisions seconds'."""
    from pytest_gridgate.ports import reserve_port

    while time.time() < start_at:  # every process starts together
        time.sleep(0.001)
    collisions = 0
    held: deque[tuple[socket.socket | None, object]] = deque()
    began = time.perf_counter()
    for _ in range(ports):
        token: object = None
        if method == "gridgate":
            token = reserve_port()
            port = token.port
        else:
            port = _bind_zero_port()
        time.sleep(GAP)
        server = socket.socket()
        try:
            server.bind(("127.0.0.1", port))
            server.listen()
        except OSError as exc:
            server.close()
            if exc.errno != errno.EADDRINUSE:
                raise
            collisions += 1
            held.append((None, token))
        else:
            held.append((server, token))
        if len(held) > WINDOW:
            _close(*held.popleft())
    while held:
        _close(*held.popleft())
    print(collisions, time.perf_counter() - began)


def _close(server: socket.socket | None, token: object) -> None:
    if server is not None:
        server.close()
    release = getattr(token, "release", None)
    if release is not None:
        release()


def run(method: str, processes: int, ports: int) -> tuple[int, float]:
    """Total EADDRINUSE and mean seconds per port over ``processes`` concurrent workers."""
    start_at = time.time() + 1.0 + 0.1 * processes
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import port_reservation as b; "
        "b.worker(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))"
    )
    here = __file__.rsplit("/", 1)[0]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, here, method, str(ports), str(start_at)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    collisions = 0
    seconds = 0.0
    for proc in procs:
        out, _ = proc.communicate(timeout=1200)
        if proc.returncode != 0:
            raise RuntimeError(f"a {method} worker failed with exit {proc.returncode}")
        count, took = out.split()
        collisions += int(count)
        seconds += float(took)
    return collisions, seconds / (processes * ports)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--ports", type=int, default=1000)
    parser.add_argument("--method", choices=("gridgate", "bind0", "both"), default="both")
    args = parser.parse_args(argv)
    methods = ["gridgate", "bind0"] if args.method == "both" else [args.method]
    failed = False
    print(
        f"{args.processes} processes x {args.ports} ports, {WINDOW} held at a time each, "
        f"bound {GAP * 1e3:g} ms after being taken"
    )
    for method in methods:
        collisions, per_port = run(method, args.processes, args.ports)
        print(f"{method:>9}: {collisions:5d} EADDRINUSE, {per_port * 1e3:.2f} ms per port")
        failed |= method == "gridgate" and collisions > 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
