"""``fds``: file descriptors a test left open; sockets are reported with kind ``socket``.

The cheap tier is one ``fstat()`` (Linux 6.2+ reports the number of open descriptors as the
size of ``/proc/self/fd``) or one listing of the descriptor directory. Only when it moved
are the new descriptors examined: what they point to (``readlink``), and which Python
object still holds them (one walk of the garbage collector's objects, only for the
descriptors still open after the detector's garbage collection, see :meth:`FdCheck.
wants_collection`). An event loop's epoll descriptor and self-pipe are reported once, as
the loop (``asyncio``).

The check survives a test that used up or closed the process's descriptors: its own calls
fall back on the spares of :mod:`pytest_gridgate.leaks.headroom`, and a test that closed
the gate's own descriptors (``os.closerange(3, ...)``) is reported for it, and the gate
opens them again.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import sys
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any

from pytest_gridgate.leaks.base import Leak
from pytest_gridgate.leaks.headroom import reserve, spare_fds, take_lost, with_headroom
from pytest_gridgate.leaks.holders import YOUNG, holders_of, weakly

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
    else:
        # Another thread took the probed number in between: drop whatever is closed by now.
        for fd in sorted(fds):
            try:
                os.fstat(fd)
            except OSError:
                fds.discard(fd)
    # The gate's own descriptors are not the session's or a test's.
    return fds - spare_fds() - {_dir_fd[0]}


# Linux 6.2+ reports the number of open descriptors as the size of /proc/self/fd: one
# fstat() of the directory, kept open, instead of reading it (a microsecond against
# seven). The descriptor is per process: a forked child must open its own, since this one
# would describe the parent's table. Its inode tells it apart from whatever file a test
# got under its number after closing it (os.closerange).
_COUNTS = _FD_DIR == "/proc/self/fd" and os.stat(_FD_DIR).st_size > 0
_dir_fd = [-1]
_dir_ino = [-1]
_fstat = os.fstat
_dup = os.dup
_close = os.close


def _forget_dir_fd() -> None:
    _dir_fd[0] = -1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_dir_fd)


def _lowest_free(dir_fd: int) -> int:
    """The lowest free descriptor number: the one the next open() gets (-1: none free)."""
    try:
        fd = _dup(dir_fd)
    except OSError:  # the table is full (or the directory descriptor was closed under us)
        return -1
    _close(fd)
    return fd


def _open_dir_fd() -> int:
    fd = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    _dir_fd[0], _dir_ino[0] = fd, os.fstat(fd).st_ino
    return fd


def _fingerprint() -> tuple[int, int] | list[str]:
    """Cheap: changes whenever a descriptor is opened and kept (see FdCheck)."""
    if _COUNTS:
        fd = _dir_fd[0] if _dir_fd[0] >= 0 else with_headroom(_open_dir_fd)
        return os.fstat(fd).st_size, _lowest_free(fd)
    return with_headroom(os.listdir, _FD_DIR) if _FD_DIR is not None else []


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


def _socket_at(fd: int) -> str | None:
    """A socket's description from its descriptor alone (a duplicate, closed at once)."""
    try:
        dup = os.dup(fd)
    except OSError:  # out of descriptors, or closed meanwhile
        return None
    try:
        sock = socket.socket(fileno=dup)  # family and type read from the descriptor
    except OSError:
        os.close(dup)
        return None
    with sock:
        return _describe_socket(sock)


def _only_sockets(fds: set[int]) -> bool:
    """Whether every one of ``fds`` is a socket (then no event loop's epoll is among them,
    and the sockets' Python objects are not needed to describe them)."""
    return all((_target(fd) or "").startswith("socket:") for fd in fds)


def _tracing() -> bool:
    tracemalloc = sys.modules.get("tracemalloc")
    return tracemalloc is not None and bool(tracemalloc.is_tracing())


def _close_loop(loop: Any) -> bool:
    if loop.is_running():
        return False
    loop.close()
    return True


#: Process-wide descriptors that well-known libraries open lazily, once, for good: the
#: module that opens them, and how to make it do so now (before a test's baseline, so that
#: the first test to use the library is not blamed for them).
#: libuv's signal-lock pipe: made by the first uvloop loop, open after ``loop.close()``.
def _uvloop_loop(module: Any) -> None:
    module.new_event_loop().close()


KNOWN_LAZY_FDS: tuple[tuple[str, Callable[[Any], None]], ...] = (("uvloop", _uvloop_loop),)

#: More new descriptors to one target than this are reported as one finding, not one by
#: one (a test that opened /dev/null until EMFILE gets one line, not a thousand).
_GROUP_OVER = 16


def _ranges(fds: list[int]) -> str:
    """``[3, 4, 5, 9]`` as ``3-5, 9``."""
    runs: list[list[int]] = []
    for fd in fds:
        if runs and fd == runs[-1][-1] + 1:
            runs[-1].append(fd)
        else:
            runs.append([fd])
    return ", ".join(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)


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

    The fingerprint is the number of open descriptors with the lowest free number (the raw
    listing on older kernels). A descriptor opened and kept moves the count, unless the test
    also closed one the session had opened before; it then moves the lowest free number,
    since the first descriptor a test opens takes that number. The full set is read only
    when the fingerprint moved, before the test (refreshing a cache) or after it. A listing
    kept while the set of numbers changed would blame a later test for an earlier one's
    descriptor, and miss that test's own where it took a freed number: the lowest free
    number is what keeps the cached listing true. The snapshot's third part counts the
    gate's own descriptors found closed under it: a test that closed them is reported.
    """

    name = "fds"

    def __init__(self, ignore: tuple[str, ...] = (), plugin_dir: str = "") -> None:
        self.ignore = ignore
        # Files in pytest's cache directory are plugins' state, not a test's: pytest-xprocess
        # keeps each process's log there open until pytest exits (issue 20's matrix).
        self._plugin_dir = plugin_dir.rstrip("/") + "/" if plugin_dir else ""
        reserve()
        self._fingerprint = _fingerprint()  # first, so the directory descriptor is known
        self._known = frozenset(with_headroom(_listing))
        # Descriptors of the known lazy resources, by (fd, target): never a test's.
        self._process_wide: set[tuple[int, str | None]] = set()
        self._lazy = list(KNOWN_LAZY_FDS)
        # The gate's own descriptors that somebody closed, in the order noticed.
        self._lost: list[int] = []
        # The candidates and their holders (weakly) of the deep check under way: the young
        # holders found before the young collection, then every holder after it.
        self._young_holders: dict[int, Any] = {}
        self._found_holders: tuple[frozenset[int], dict[int, Any]] | None = None
        # Set by the detector for the deep check of one test: the descriptors that are not
        # the test's whatever a collection does (its released unittest object holds them).
        self.released_fds: Callable[[], set[int]] | None = None

    def _warm_up(self) -> None:
        """Make each known library's lazy descriptors now, once it is imported."""
        modules = sys.modules
        for entry in list(self._lazy):
            name, make = entry
            module = modules.get(name)
            if module is None:
                continue
            self._lazy.remove(entry)
            before = with_headroom(_listing)
            with contextlib.suppress(Exception):  # an odd version: then it is not known
                make(module)
            for fd in with_headroom(_listing) - before:
                self._process_wide.add((fd, _target(fd)))

    def _lost_dir_fd(self) -> tuple[int, int] | list[str]:
        """The directory descriptor was closed (or replaced) by someone else: reopen it."""
        self._lost.append(_dir_fd[0])
        _dir_fd[0] = -1  # not closed: the number may be a test's file by now
        return _fingerprint()

    def snapshot(self) -> tuple[tuple[int, int] | list[str], frozenset[int], int]:
        if self._lazy:  # until every known library is imported (and warmed up)
            modules = sys.modules
            for name, _ in self._lazy:
                if name in modules:
                    self._warm_up()
                    break
        dir_fd = _dir_fd[0]
        if _COUNTS and dir_fd >= 0:  # _fingerprint(), inlined: this runs twice per test
            try:
                st = _fstat(dir_fd)
            except OSError:
                st = None
            fingerprint: tuple[int, int] | list[str] = (
                (st.st_size, _lowest_free(dir_fd))
                if st is not None and st.st_ino == _dir_ino[0]
                else self._lost_dir_fd()
            )
        else:
            fingerprint = _fingerprint()
        if fingerprint != self._fingerprint:
            self._fingerprint, self._known = fingerprint, frozenset(with_headroom(_listing))
        return fingerprint, self._known, len(self._lost)

    def _new_open(self, before: Any) -> set[int]:
        """Descriptors open now that were not before (the cache refreshed)."""
        fingerprint = self.snapshot()[0]
        if fingerprint == before[0]:
            return set()
        now = self._known
        # Descriptors closed since the listing (another thread, a finalizer) are not leaks.
        return {fd for fd in now - before[1] if _target(fd) is not None}

    def _candidates(self, before: Any) -> set[int]:
        return {
            fd
            for fd in self._new_open(before)
            if (target := _target(fd)) is not None
            and (fd, target) not in self._process_wide
            and not (self._plugin_dir and target.startswith(self._plugin_dir))
            and not any(fnmatchcase(target, pattern) for pattern in self.ignore)
        }

    def wants_collection(self, before: Any) -> bool:
        """Whether garbage might hold a descriptor opened since ``before``.

        The detector collects garbage once, before any check judges, when a check says so
        (so that every check sees what the collection released, and what it frees is
        reported on the test being checked). Asked only in the deep tier, first for the
        young generations' collection (cheap), then :meth:`wants_full_collection`. The
        holders among the young objects are noted now, before that collection moves the
        survivors to the oldest generation.
        """
        self._found_holders = None  # a new check: what an earlier one found is stale
        candidates = with_headroom(self._candidates, before)
        young = holders_of(candidates, YOUNG) if 0 < len(candidates) <= _GROUP_OVER else {}
        self._young_holders = weakly(young)
        return bool(candidates)

    def wants_full_collection(self, before: Any) -> bool:
        """Whether an old Python object (a file, a socket, a loop) holds a descriptor still
        open: only such an object can be garbage that the young collection left.

        A young holder that survived the young collection is reachable (from a root, or
        from an older object that is itself alive: the usual case, though an old object
        that became garbage during the test would keep it until the next full collection)
        and its descriptor open: the test left it so, and no full collection (tens of
        milliseconds on a big suite's heap) is needed to tell. A descriptor no Python object
        holds stays open however much is collected. The holders found are remembered
        (weakly) for :meth:`compare`, so that the walk runs once.
        """
        candidates = with_headroom(self._candidates, before)
        if len(candidates) > _GROUP_OVER:
            return True  # a heap of descriptors: collect, then describe them in groups
        young, self._young_holders = self._young_holders, {}
        live = {
            fd: holder
            for fd, ref in young.items()
            if fd in candidates and (holder := ref()) is not None
        }
        rest = candidates - live.keys()
        if rest and _only_sockets(rest) and not _tracing():
            # Sockets only (no loop's epoll descriptor among them), described from the
            # descriptor, and closed by no cleanup: their holders are not needed, and no
            # full collection is run for them (one per test that left a socket in an
            # older object cost anyio's suite a quarter of its CPU). Limit: a socket whose
            # only holder is old garbage is reported as the test's; its ResourceWarning
            # comes with Python's next full collection, as it would without the gate.
            self._found_holders = (frozenset(candidates), weakly(live))
            return False
        old = holders_of(rest) if rest else {}
        self._found_holders = (frozenset(candidates), weakly({**old, **live}))
        if old and self.released_fds is not None:
            # Held from the test's released unittest object (pexpect's multiprocessing
            # servers, kept by the flaky plugin): not the test's, garbage or not, so a full
            # collection (15 ms on pexpect's heap) cannot change the verdict.
            released = self.released_fds()
            return any(fd not in released for fd in old)
        return bool(old)

    def _holders_of(self, candidates: set[int]) -> dict[int, Any]:
        # Taken once: a later comparison (a fixture's setup, with no collection before it)
        # must not read another check's holders, whose numbers may have been reused since.
        found, self._found_holders = self._found_holders, None
        if found is not None and candidates <= found[0]:
            # Found before the collection: a holder it freed is gone (and its fd closed).
            return {fd: holder for fd, ref in found[1].items() if (holder := ref()) is not None}
        if not candidates or (_only_sockets(candidates) and not _tracing()):
            return {}  # sockets are described from their descriptors
        return holders_of(candidates)

    def baseline(self) -> tuple[tuple[int, int] | list[str], frozenset[int], int]:
        """The snapshot before a test: the last snapshot's (taken after the previous test;
        in between only pytest's reporting runs) when the lowest free number has not moved
        since. That probe (a dup and a close) costs a third of the count's fstat, which
        builds a whole stat result: the fstat is left to the snapshot after the test. A
        descriptor opened between two tests takes the lowest free number and is seen; one
        put at a chosen higher number (dup2) is not, and would be the next test's."""
        last = self._fingerprint
        if (
            _COUNTS
            and (dir_fd := _dir_fd[0]) >= 0
            and type(last) is tuple
            and _lowest_free(dir_fd) == last[1]
        ):
            return last, self._known, len(self._lost)
        return self.snapshot()

    def compare(self, before: Any) -> list[Leak]:
        return with_headroom(self._compare, before)

    def _compare(self, before: Any) -> list[Leak]:
        reserve()  # notes spares a test closed, and opens them again
        self._lost.extend(take_lost())
        candidates = self._candidates(before)  # (also notes a lost directory descriptor)
        leaks = self._closed_under_us(before)
        if not candidates:
            return leaks
        if len(candidates) > _GROUP_OVER:
            grouped, candidates = self._grouped(candidates)
            leaks.extend(grouped)
        # One walk of the heap, for the descriptors still open after the collection.
        holders = self._holders_of(candidates)
        reported_loops = set()
        asyncio = sys.modules.get("asyncio")
        for fd in sorted(candidates):
            target = _target(fd)
            if target is None:
                continue
            holder = holders.get(fd)
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
            what = _what(holder)
            if holder is None and kind == "socket":
                what = _socket_at(fd) or what
            leaks.append(Leak(kind, ("fd", fd, target), f"fd {fd} -> {target} ({what})"))
        return leaks

    def _closed_under_us(self, before: Any) -> list[Leak]:
        lost = self._lost[before[2] :] if len(before) > 2 else []
        if not lost:
            return []
        detail = (
            "closed descriptors it did not open, the leak gate's own among them "
            f"(fds {_ranges(sorted(set(lost)))}): os.closerange()? The gate opened its own again"
        )
        return [Leak("fd", ("fd-closed", before[2]), detail, cleanup=lambda: True)]

    def _grouped(self, candidates: set[int]) -> tuple[list[Leak], set[int]]:
        """Findings for the targets that many new descriptors point to, and the rest.

        Only descriptors of the very same target are grouped (sockets and pipes have an
        inode each in theirs: they are never grouped). The key names the target and the
        lowest descriptor, so that a fixture checked later does not report them again.
        """
        by_target: dict[str, list[int]] = {}
        for fd in sorted(candidates):
            target = _target(fd)
            if target is not None:
                by_target.setdefault(target, []).append(fd)
        leaks, grouped = [], set()
        for target, fds in by_target.items():
            if len(fds) <= _GROUP_OVER:
                continue
            grouped.update(fds)
            leaks.append(
                Leak(
                    "socket" if target.startswith("socket:") else "fd",
                    ("fds", target, fds[0]),
                    f"{len(fds)} descriptors -> {target} (fds {_ranges(fds)})",
                )
            )
        return leaks, candidates - grouped


def _what(holder: Any) -> str:
    if isinstance(holder, socket.socket):
        return f"{_describe_socket(holder)}{_opened_at(holder)}"
    if isinstance(holder, io.FileIO):
        return f"file object {holder.name!r} mode {holder.mode!r}{_opened_at(holder)}"
    if holder is not None:  # multiprocessing's numbers: closed when their owner goes
        pid = getattr(holder, "pid", None)
        of = f" of process {pid}" if isinstance(pid, int) else ""
        return f"held by {type(holder).__module__}.{type(holder).__qualname__}{of}"
    return "no Python object holds it"
