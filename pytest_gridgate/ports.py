"""``gridgate_port``: a TCP port on 127.0.0.1 that nothing else on the host is given.

The usual "free port" (bind to port 0, read the number, close, hand it to a server) races:
the kernel hands the same number to the next ``bind(0)`` of another xdist worker, shard or
job, and one server fails with EADDRINUSE. Two things close the race here:

* port-for picks the candidate: a port outside the kernel's ephemeral range (so no
  ``bind(0)`` anywhere on the host is given it) that nothing listens on or is bound to.
  port-for is maintained and typed; ephemeral-port-reserve was the other candidate, but it
  parks the port in TIME_WAIT inside the ephemeral range for a minute, which a server that
  does not set SO_REUSEADDR cannot bind, and two reservers may still be given the same port.
* a host-wide lock says who holds it: an exclusive ``flock`` on one file per port in a
  shared directory, held while the test uses the port. Every gridgate process on the host
  (any xdist worker, any shard, any other run) sees it; the kernel drops it when the
  holder exits, however it exits, so a killed run leaves no stale reservation.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import random
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

__all__ = ["PortReservation", "gridgate_port", "gridgate_ports", "lock_directory", "reserve_port"]

HOST = "127.0.0.1"
# Candidates tried before giving up: each is free when picked, so only a host that is out
# of ports (or a lock directory that cannot be written) gets this far.
_ATTEMPTS = 1000


def lock_directory() -> Path:
    # Host-wide, so not a per-user or per-job TMPDIR when /tmp is there.
    base = Path("/tmp") if os.name == "posix" and os.path.isdir("/tmp") else None
    return (base or Path(tempfile.gettempdir())) / "gridgate-ports"


@functools.lru_cache(maxsize=1)
def _candidates() -> tuple[int, ...]:
    """Ports outside the ephemeral and well-known ranges (once per process: ~40 ms)."""
    import port_for

    return tuple(sorted(port_for.available_good_ports()))


class PortReservation:
    """A port and the lock that reserves it until :meth:`release`."""

    def __init__(self, port: int, fd: int) -> None:
        self.port = port
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the file drops the lock
            self._fd = None

    def __enter__(self) -> int:
        return self.port

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _lock(directory: Path, port: int) -> int | None:
    """The fd holding port's lock file exclusively, or None when another process has it."""
    path = directory / f"{port}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES, errno.EDEADLK):
            return None
        raise
    return fd


def _prepare(directory: Path) -> None:
    if not directory.is_dir():
        directory.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # someone else's directory: theirs to set
            directory.chmod(0o1777)  # every user's runs share it, like /tmp


def reserve_port(host: str = HOST) -> PortReservation:
    """A free TCP port on ``host`` that no other gridgate process holds, locked until
    released."""
    import port_for

    directory = lock_directory()
    _prepare(directory)
    candidates = _candidates()
    for _ in range(_ATTEMPTS):
        # port-for's select_random, less its copy of the whole range per call: a random
        # candidate, then its check that nothing listens on or is bound to the port, made
        # under the lock (a previous holder may have released it with its server still up).
        port = random.choice(candidates)
        fd = _lock(directory, port)
        if fd is None:
            continue
        if port_for.port_is_used(port, host):
            os.close(fd)
            continue
        return PortReservation(port, fd)
    raise RuntimeError(f"gridgate_port: no free port found after {_ATTEMPTS} tries")


@pytest.fixture
def gridgate_port() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that no other test, xdist worker, shard or gridgate run on
    this host is given while this test runs."""
    with reserve_port() as port:
        yield port


@pytest.fixture
def gridgate_ports() -> Iterator[Callable[[int], list[int]]]:
    """``gridgate_ports(n)``: n distinct ports reserved like ``gridgate_port``."""
    held: list[PortReservation] = []

    def take(n: int) -> list[int]:
        new = [reserve_port() for _ in range(n)]
        held.extend(new)
        return [r.port for r in new]

    try:
        yield take
    finally:
        for reservation in held:
            reservation.release()
