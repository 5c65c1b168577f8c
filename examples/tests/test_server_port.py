"""A server test on a port of its own: no deliberate defect here, on purpose.

The classic defect is a fixed port (or ``bind(("", 0))``, close, hand the number on):
under ``-n 2`` or with two jobs on one runner, two servers are given the same port and
one fails with EADDRINUSE, now and then. That is a flaky test, not a gate verdict, so the
demo would only fail sometimes. The fix is the ``gridgate_port`` fixture: a port that no
other test, worker, shard or gridgate run on the host holds meanwhile.
"""

from __future__ import annotations

import socket
import threading


def _echo_once(server: socket.socket) -> None:
    connection, _ = server.accept()
    with connection:
        connection.sendall(connection.recv(1024))


def test_echo_server(gridgate_port: int) -> None:
    with socket.create_server(("127.0.0.1", gridgate_port)) as server:
        worker = threading.Thread(target=_echo_once, args=(server,))
        worker.start()
        with socket.create_connection(("127.0.0.1", gridgate_port), timeout=10) as client:
            client.sendall(b"ping")
            assert client.recv(1024) == b"ping"
        worker.join(timeout=10)
