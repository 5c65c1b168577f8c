"""``fds``: file descriptors a test left open; sockets are reported with kind ``socket``.

The cheap tier lists the descriptor directory (``/proc/self/fd``, ``/dev/fd`` on macOS),
one system call. Only when the listing changed are the new descriptors examined: what they
point to (``readlink``), and which Python object still holds them (a walk of the garbage
collector's objects, after a collection so that unreachable files are closed first).
An event loop's epoll descriptor and self-pipe are reported once, as the loop (``asyncio``).
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import socket
import sys
from typing import Any

import psutil

from pytest_gridgate.leaks.base import Leak

_FD_DIR = next((d for d in ("/proc/self/fd", "/dev/fd") if os.path.isdir(d)), None)


_NAMES = [str(n) for n in range(4096)]


def _listing() -> tuple[list[str], int]:
    """The names in the descriptor directory, and the one that was the listing's own.

    Listing the directory opens it, on the lowest free descriptor, which then shows in the
    listing; a descriptor the test opens later very likely gets that same number. The
    listing's own descriptor ends the run ``0, 1, 2, ...`` at the start of the listing and
    is closed again by now: usually one ``fstat`` finds it.
    """
    if _FD_DIR is None:  # pragma: no cover - neither /proc nor /dev/fd
        return [str(f.fd) for f in psutil.Process().open_files()], -1
    names = os.listdir(_FD_DIR)
    run = 0
    for name in names:
        if run >= len(_NAMES) or name != _NAMES[run]:
            break
        run += 1
    for fd in range(run - 1, -1, -1):
        try:
            os.fstat(fd)
        except OSError:
            return names, fd
    return names, -1


def _target(fd: int) -> str | None:
    """What ``fd`` points to, or None when it is not open (any more)."""
    if _FD_DIR == "/proc/self/fd":
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return None
    try:
        os.fstat(fd)
    except OSError:
        return None
    return "?"  # pragma: no cover - no readlink outside Linux


def _holders(fds: set[int]) -> dict[int, Any]:
    """Python objects (files, sockets, event loops) still holding any of ``fds``."""
    holders: dict[int, Any] = {}
    asyncio = sys.modules.get("asyncio")
    loop_type = asyncio.BaseEventLoop if asyncio is not None else ()
    for obj in gc.get_objects():
        try:
            if isinstance(obj, (io.FileIO, socket.socket)):
                if not obj.closed if isinstance(obj, io.FileIO) else obj.fileno() != -1:
                    fd = obj.fileno()
                    if fd in fds:
                        holders.setdefault(fd, obj)
            elif loop_type and isinstance(obj, loop_type) and not obj.is_closed():
                for fd in _loop_fds(obj):
                    if fd in fds:
                        holders[fd] = obj  # the loop wins over its own sockets
        except Exception:  # an object in a half-built or odd state: not ours to judge
            continue
    return holders


def _loop_fds(loop: Any) -> list[int]:
    fds = []
    selector = getattr(loop, "_selector", None)
    if selector is not None:
        with contextlib.suppress(Exception):
            fds.append(selector.fileno())
    for name in ("_ssock", "_csock"):
        sock = getattr(loop, name, None)
        if sock is not None and sock.fileno() != -1:
            fds.append(sock.fileno())
    return fds


def _opened_at(obj: Any) -> str:
    import tracemalloc

    traceback = tracemalloc.get_object_traceback(obj) if tracemalloc.is_tracing() else None
    if traceback is None:
        return ""
    frame = traceback[0]
    return f", opened at {frame.filename}:{frame.lineno}"


def _describe_socket(sock: socket.socket) -> str:
    kind = {socket.SOCK_STREAM: "TCP", socket.SOCK_DGRAM: "UDP"}.get(sock.type, str(sock.type))
    if sock.family == getattr(socket, "AF_UNIX", None):
        kind = "unix"
    try:
        local = sock.getsockname()
    except OSError:
        local = "?"
    return f"{kind} socket {local!r}"


def _close_loop(loop: Any) -> bool:
    if loop.is_running():
        return False
    loop.close()
    return True


class FdCheck:
    name = "fds"

    def snapshot(self) -> tuple[list[str], int]:
        return _listing()

    def compare(self, before: Any) -> list[Leak]:
        names, _ = _listing()
        if names == before[0]:
            return []
        candidates = {int(fd) for fd in names} - ({int(fd) for fd in before[0]} - {before[1]})
        if not candidates:
            return []
        # The listing's own directory descriptor may have a new number: drop closed ones.
        candidates = {fd for fd in candidates if _target(fd) is not None}
        if not candidates:
            return []
        gc.collect()  # files and sockets only reachable from garbage close now
        candidates = {fd for fd in candidates if _target(fd) is not None}
        if not candidates:
            return []
        holders = _holders(candidates)
        leaks = []
        reported_loops = set()
        for fd in sorted(candidates):
            target = _target(fd)
            if target is None:
                continue
            holder = holders.get(fd)
            asyncio = sys.modules.get("asyncio")
            if asyncio is not None and isinstance(holder, asyncio.BaseEventLoop):
                if id(holder) in reported_loops:
                    continue
                reported_loops.add(id(holder))
                loop = holder
                detail = f"event loop {type(loop).__name__} left open (never closed)"
                leaks.append(
                    Leak(
                        "asyncio",
                        ("loop", id(loop)),
                        detail,
                        cleanup=lambda loop=loop: _close_loop(loop),  # type: ignore[misc]
                    )
                )
                continue
            kind = "socket" if target.startswith("socket:") else "fd"
            if isinstance(holder, socket.socket):
                what = f"{_describe_socket(holder)}{_opened_at(holder)}"
            elif isinstance(holder, io.FileIO):
                what = f"file object {holder.name!r} mode {holder.mode!r}{_opened_at(holder)}"
            else:
                what = "no Python object holds it"
            leaks.append(Leak(kind, ("fd", fd, target), f"fd {fd} -> {target} ({what})"))
        return leaks
