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

from pytest_gridgate.leaks.base import Leak

_FD_DIR = next((d for d in ("/proc/self/fd", "/dev/fd") if os.path.isdir(d)), None)


def _listing() -> set[int]:
    """The open descriptors, without the one the listing itself used.

    Listing the directory opens it, on the lowest free descriptor, which then shows in the
    listing (closed again by now). Which number that was cannot be told from the names: a
    descriptor number can be taken without showing in the directory. A thread blocked in
    ``accept()`` holds the number of the connection it waits for (Linux reserves it before
    blocking), as pytest-rerunfailures' status server does in every run where xdist is
    installed. Guessing "the first gap after 0, 1, 2, ..." then kept the listing's own
    number as if open, and the next descriptor a test opened got exactly that number and
    was never seen (issue 20). So ask the kernel: a descriptor opened and closed just
    before the listing gets the number the listing then uses.
    """
    if _FD_DIR is None:  # pragma: no cover - neither /proc nor /dev/fd
        import psutil

        return {f.fd for f in psutil.Process().open_files()}
    probe = os.open(_FD_DIR, os.O_RDONLY)
    os.close(probe)
    fds = {int(name) for name in os.listdir(_FD_DIR)}
    try:
        os.fstat(probe)
    except OSError:
        fds.discard(probe)  # the listing's own descriptor: the usual case, one fstat
        return fds
    # Another thread took the probed number in between: drop whatever is closed by now.
    for fd in sorted(fds):
        try:
            os.fstat(fd)
        except OSError:
            fds.discard(fd)
    return fds


# Linux 6.2+ reports the number of open descriptors as the size of /proc/self/fd: one
# fstat() of the directory, kept open, instead of reading it (a microsecond against
# seven). The descriptor is per process: a forked child must open its own, since this one
# would describe the parent's table.
_COUNTS = _FD_DIR == "/proc/self/fd" and os.stat(_FD_DIR).st_size > 0
_dir_fd = [-1]
_fstat = os.fstat


def _forget_dir_fd() -> None:
    _dir_fd[0] = -1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_dir_fd)


def _fingerprint() -> int | list[str]:
    """Cheap: changes whenever a descriptor is opened and kept (see FdCheck)."""
    if _COUNTS:
        if _dir_fd[0] < 0:
            _dir_fd[0] = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
        return os.fstat(_dir_fd[0]).st_size
    return os.listdir(_FD_DIR) if _FD_DIR is not None else []


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
    loop_type = asyncio.BaseEventLoop if asyncio is not None else None
    # A walk over every object of the heap: decide per type, not per object.
    kinds: dict[type, str] = {}
    for obj in gc.get_objects():
        cls = type(obj)
        kind = kinds.get(cls)
        if kind is None:
            kind = kinds[cls] = (
                "file"
                if issubclass(cls, io.FileIO)
                else "socket"
                if issubclass(cls, socket.socket)
                else "loop"
                if loop_type is not None and issubclass(cls, loop_type)
                else ""
            )
        if not kind:
            continue
        try:
            if kind == "loop":
                if not obj.is_closed():
                    for fd in _loop_fds(obj):
                        if fd in fds:
                            holders[fd] = obj  # the loop wins over its own sockets
            elif kind == "file" and obj.closed:
                continue
            elif (fd := obj.fileno()) in fds:
                holders.setdefault(fd, obj)
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


def pytest_cache_dir(config: Any) -> str:
    """pytest's cache directory (the ``cache_dir`` ini option, from the rootdir), resolved."""
    try:
        value = os.path.expanduser(os.path.expandvars(str(config.getini("cache_dir"))))
    except ValueError:  # no such ini option: -p no:cacheprovider
        return ""
    path = os.path.join(str(config.rootpath), value)  # an absolute value stays as it is
    return os.path.realpath(path)


class FdCheck:
    """Open descriptors, in two tiers.

    The fingerprint is the number of open descriptors (the raw listing on older kernels):
    a descriptor opened and kept moves it, unless the test also closed one the session had
    opened before. The full set is read only when the fingerprint moved, before the test
    (refreshing a cache) or after it.
    """

    name = "fds"

    def __init__(self, plugin_dir: str = "") -> None:
        self._fingerprint = _fingerprint()  # first, so the directory descriptor is known
        self._known = frozenset(_listing())
        # Files in pytest's cache directory are plugins' state, not a test's: pytest-xprocess
        # keeps each process's log there open until pytest exits (issue 20's matrix).
        self._plugin_dir = plugin_dir.rstrip("/") + "/" if plugin_dir else ""

    def snapshot(self) -> tuple[int | list[str], frozenset[int]]:
        if _COUNTS and _dir_fd[0] >= 0:  # _fingerprint(), inlined: this runs twice per test
            fingerprint: int | list[str] = _fstat(_dir_fd[0]).st_size
        else:
            fingerprint = _fingerprint()
        if fingerprint != self._fingerprint:
            self._fingerprint, self._known = fingerprint, frozenset(_listing())
        return fingerprint, self._known

    def compare(self, before: Any) -> list[Leak]:
        fingerprint = _fingerprint()
        if fingerprint == before[0]:
            return []
        now = _listing()
        self._fingerprint, self._known = fingerprint, frozenset(now)
        candidates = now - before[1]
        # Descriptors closed since the listing (another thread, a finalizer) are not leaks.
        candidates = {fd for fd in candidates if _target(fd) is not None}
        if self._plugin_dir:
            candidates = {
                fd for fd in candidates if not (_target(fd) or "").startswith(self._plugin_dir)
            }
        if not candidates:
            return []
        if _holders(candidates):  # (the result is dropped: it would keep garbage alive)
            # Files and sockets only reachable from garbage close in a collection. A full
            # one costs tens of milliseconds on a big heap: only when a Python object holds
            # one of the descriptors at all (a raw os.open() descriptor stays open anyway).
            gc.collect()
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
