"""Spare descriptors: the gate keeps working when a test used up the process's.

A test that opens files until ``EMFILE`` and keeps them leaves no descriptor for the gate
to list ``/proc/self/fd``, read ``/proc`` or write its report, and raising the soft
``RLIMIT_NOFILE`` does not help where the hard limit is the same (as on many CI hosts).
So the gate keeps a few descriptors of its own: the ends of a few pipes, opened when the
leak checks start. When one of the gate's own system calls fails with ``EMFILE`` or
``ENFILE``, the spares are closed and the call is made again. They are not taken back:
the process stays out of descriptors after such a test (the gate closes no descriptor
it did not open), and the freed slots are then what everyone in it shares for the rest of
the session: the gate's next checks, pytest, the timeouts' watchdog, the report writer.

A spare is known by its number and its pipe's inode: a test that closed it (``os.closerange``)
and got the number back for a file of its own never has that file closed by the gate.
The fd check leaves the spares out of its listing, and reports spares a test closed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import TypeVar

from pytest_gridgate.process_tree import EXHAUSTED

T = TypeVar("T")

#: Pipes kept open (two descriptors each): enough for a listing, a /proc read, the report
#: file and the watchdog's cleanup, all of which close what they open before the next.
SPARE_PIPES = 4

# (descriptor, inode) of each spare; process-wide, like the descriptor table itself.
_spares: list[tuple[int, int]] = []
# Spares found closed (or replaced) by someone else since the last look.
_lost: list[int] = []
# Set once the spares were handed out: the process ran out of descriptors.
_handed_out = [False]


def _is_spare(fd: int, inode: int) -> bool:
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    return st.st_ino == inode and stat.S_ISFIFO(st.st_mode)


def _forget_after_fork() -> None:
    # A forked child has copies of the spares; it keeps them (closing them changes nothing
    # for the parent) but must not judge them as its own lost ones.
    _lost.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def reserve() -> None:
    """Open the spares that are missing; note the ones somebody else closed."""
    kept = []
    for fd, inode in _spares:
        if _is_spare(fd, inode):
            kept.append((fd, inode))
        else:
            _lost.append(fd)
    _spares[:] = kept
    while len(_spares) < 2 * SPARE_PIPES and not _handed_out[0]:
        try:
            read_end, write_end = os.pipe()  # non-inheritable: no child ever gets them
        except OSError:
            return  # out of descriptors already: fewer spares
        inode = os.fstat(read_end).st_ino
        _spares.extend(((read_end, inode), (write_end, inode)))


def release() -> None:
    """Close the spares (only descriptors that are still ours)."""
    spares, _spares[:] = list(_spares), []
    for fd, inode in spares:
        if _is_spare(fd, inode):
            os.close(fd)
        else:
            _lost.append(fd)


def spare_fds() -> frozenset[int]:
    """The descriptors the spares hold now (not a test's, not a leak)."""
    return frozenset(fd for fd, _ in _spares)


def take_lost() -> list[int]:
    """Spares closed by somebody else since the last call (``os.closerange`` in a test)."""
    lost = sorted(set(_lost))
    _lost.clear()
    return lost


def hand_out() -> None:
    """Release the spares for good: the process is out of descriptors."""
    _handed_out[0] = True
    release()


def with_headroom(function: Callable[..., T], *args: object) -> T:
    """``function(*args)``; if it ran out of descriptors, again with the spares handed out."""
    try:
        return function(*args)
    except OSError as exc:
        if exc.errno not in EXHAUSTED or not _spares:
            raise
    hand_out()
    return function(*args)


def exhausted() -> bool:
    """Whether the process cannot open one more descriptor right now."""
    try:
        fd = os.open(os.devnull, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        return exc.errno in EXHAUSTED
    os.close(fd)
    return False
