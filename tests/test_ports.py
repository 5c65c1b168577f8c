"""gridgate_port: ports that no other test, worker, shard or run on the host is given."""

from __future__ import annotations

import importlib.util
import json
import socket
from pathlib import Path
from types import ModuleType

import pytest

from pytest_gridgate.ports import lock_directory, reserve_port

BENCHMARK = Path(__file__).parent.parent / "benchmarks" / "port_reservation.py"


def _benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("port_reservation", BENCHMARK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_eight_processes_binding_a_thousand_ports_each_never_collide() -> None:
    collisions, _ = _benchmark().run("gridgate", processes=8, ports=1000)
    assert collisions == 0


def test_a_reserved_port_is_not_given_again_until_released() -> None:
    held = [reserve_port() for _ in range(50)]
    try:
        ports = {r.port for r in held}
        assert len(ports) == 50
        again = reserve_port()
        assert again.port not in ports
        again.release()
        # The lock is the file's: another process (here another open file) cannot take it.
        import fcntl

        with open(lock_directory() / f"{held[0].port}.lock") as other:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            held[0].release()
            fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        for reservation in held:
            reservation.release()


SERVERS = """
import json
import socket


def _serve(port):
    server = socket.socket()  # no SO_REUSEADDR: a plain server
    server.bind(("127.0.0.1", port))
    server.listen()
    return server


def test_port(gridgate_port):
    with _serve(gridgate_port) as server:
        with socket.create_connection(("127.0.0.1", gridgate_port), timeout=30):
            pass
    with open(f"port-{gridgate_port}.json", "w") as out:
        json.dump([gridgate_port], out)


def test_ports(gridgate_ports):
    ports = gridgate_ports(3)
    servers = [_serve(p) for p in ports]
    for s in servers:
        s.close()
    with open(f"ports-{ports[0]}.json", "w") as out:
        json.dump(ports, out)
"""


def test_fixtures_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_servers=SERVERS)
    result = pytester.runpytest_subprocess("-n", "2")
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=2)
    taken = [json.loads(p.read_text()) for p in pytester.path.glob("port*-*.json")]
    ports = [port for group in taken for port in group]
    assert len(ports) == len(set(ports)) == 4
    # Released after the tests: each can be reserved and bound again.
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
