"""Measuring a test's memory: the peak it adds, what it keeps, its child processes.

No pytest here: the gate (:mod:`pytest_gridgate.memory.gate`) calls :meth:`Meter.begin`
before each test's setup and :meth:`Meter.lap` after its teardown. ``lap`` ends one test
and starts the next in the same few system calls (the size right after the reset is both
what the test kept and where the next test starts), so ``begin`` has nothing to do but
for the first test and after a test whose teardown did not reach the gate.

On Linux the kernel keeps the process's peak resident set size (``VmHWM``) and lets the
process reset it to the current size by writing ``5`` to ``/proc/self/clear_refs``. So a
test's peak is exact: reset before its setup, read after its teardown, mostly through
``getrusage`` rather than ``/proc/self/status`` (a system call instead of formatting the
whole status file, 0.6 against 8 microseconds; see :class:`ProcMeter`). Elsewhere, and
where ``clear_refs`` is not writable (some sandboxes), the peak cannot be reset:
:class:`FallbackMeter` sees a test's peak only when it is a new high for the process (see
docs/memory.md).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

try:
    import fcntl
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

__all__ = ["FallbackMeter", "Measurement", "Meter", "ProcMeter", "make_meter"]

_KIB = 1024


class Measurement:
    """One test: ``peak`` added above the size at its start (its own process, plus child
    processes), ``kept`` (size after teardown minus ``start``, the size at its start),
    ``process_peak`` (the process's absolute peak during the test), ``children`` (the part
    of ``peak`` that child processes account for)."""

    __slots__ = ("children", "kept", "peak", "process_peak", "start")

    def __init__(self, peak: int, kept: int, process_peak: int, children: int, start: int) -> None:
        self.peak, self.kept, self.process_peak = peak, kept, process_peak
        self.children, self.start = children, start


class Meter:
    """The interface: :meth:`begin` before a test's setup, :meth:`lap` after its teardown
    (which also starts the next test), :meth:`start` to start afresh."""

    exact = False
    name = "none"
    # Set by lap(): the next test is started already. Cleared by begin(), so that a test
    # whose teardown never reached lap() (a finalizer raised) is not measured into the next.
    _armed = False

    def begin(self) -> None:
        if self._armed:
            self._armed = False
        else:
            self.start()

    def start(self) -> None:
        raise NotImplementedError

    def lap(self) -> Measurement:
        """The test that just ended; the next one starts now."""
        raise NotImplementedError

    def resident(self) -> int:
        """The process's resident set size now."""
        raise NotImplementedError

    def peak_since_start(self) -> int:
        """The process's peak resident size since the last start (or its start)."""
        raise NotImplementedError

    def close(self) -> None:
        pass


if resource is not None:
    # The peak, without the cost of RUSAGE_SELF: ru_maxrss is a figure of the address
    # space, which all threads share, so RUSAGE_THREAD gives the same one without adding
    # up every thread's CPU times (0.6 against 0.9 microseconds a call).
    _PEAK_OF = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)
    _CHILDREN = resource.RUSAGE_CHILDREN


class ProcMeter(Meter):
    """Linux: ``/proc/self/clear_refs`` resets the peak; ``getrusage`` reads it.

    ``ru_maxrss`` is the larger of the current peak (``VmHWM``) and a figure the kernel
    sets only at ``exec`` (the peak of the program this process replaced) and when the
    whole process exits: a constant while pytest runs, known to be at most ``floor``
    (``ru_maxrss`` right after the first reset). Right after a reset ``ru_maxrss`` is
    therefore the current size whenever it is above ``floor``; otherwise
    ``/proc/self/statm`` and ``/proc/self/status`` say it exactly. Files are opened once and
    read with ``pread``. Per test, in :meth:`lap`: six system calls (a check that the
    ``clear_refs`` descriptor is still ours, the peak, the reaped children's peak, the main
    thread's children list, empty but for tests with children still running, the reset,
    the size after it), about 4 microseconds.
    """

    exact = True
    name = "linux"

    def __init__(self) -> None:
        self._clear, self._clear_flags = _open_marked("/proc/self/clear_refs")
        try:
            os.write(self._clear, b"5")
            self._status = os.open("/proc/self/status", os.O_RDONLY)
            self._statm = os.open("/proc/self/statm", os.O_RDONLY)
        except OSError:
            os.close(self._clear)
            raise
        try:
            self._children = os.open(f"/proc/self/task/{os.getpid()}/children", os.O_RDONLY)
        except OSError:  # CONFIG_PROC_CHILDREN off: reaped children only
            self._children = -1
        # Set when a test closed the kept descriptors (os.closerange): see _lose().
        self._fallback: FallbackMeter | None = None
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._floor = resource.getrusage(_PEAK_OF).ru_maxrss
        self._start_rss = 0
        self._reaped_before = 0

    def _lose(self) -> FallbackMeter:
        """A test closed the kept descriptors (``os.closerange``), and their numbers may be
        its own files by now: never write ``5`` into one of those, nor close them. The rest
        of the run is measured by the fallback, which keeps no descriptor open."""
        if self._fallback is None:
            self._fallback = FallbackMeter()
            self._fallback.start()
            self._clear = self._status = self._statm = self._children = -1
            self.exact, self.name = False, FallbackMeter.name
        return self._fallback

    def _ours(self) -> bool:
        """Whether the ``clear_refs`` descriptor is still the one this meter opened (after
        :meth:`_lose`, it is -1: never): open, with the flags it was opened with."""
        try:
            return fcntl.fcntl(self._clear, fcntl.F_GETFL) == self._clear_flags
        except (OSError, ValueError):  # closed; -1 (lost): fcntl's ValueError
            return False

    def resident(self) -> int:
        if self._fallback is not None:
            return self._fallback.resident()
        try:
            return int(os.pread(self._statm, 128, 0).split()[1]) * self._page
        except (OSError, ValueError, IndexError):
            return self._lose().resident()

    def _status_peak(self) -> int:
        try:
            text = os.pread(self._status, 4096, 0)
            at = text.find(b"VmHWM:")
            return int(text[at + 6 : text.find(b"kB", at)]) * _KIB
        except (OSError, ValueError):
            return self._lose().peak_since_start()

    def peak_since_start(self) -> int:
        if self._fallback is not None:
            return self._fallback.peak_since_start()
        return self._status_peak()

    def _reset(self) -> None:
        """The peak back to the current size, which is where the next test starts."""
        try:
            os.write(self._clear, b"5")
        except OSError:  # the descriptor went missing within this very lap
            self._lose()
            return
        now = resource.getrusage(_PEAK_OF).ru_maxrss
        # At or below the floor it may be the exec-time figure: ask for the size itself.
        self._start_rss = now * _KIB if now > self._floor else self.resident()

    def start(self) -> None:
        if not self._ours():
            self._lose().start()
            return
        self._reset()
        self._reaped_before = resource.getrusage(_CHILDREN).ru_maxrss

    def lap(self) -> Measurement:
        # Every test runs this: written out in one function, as each method call costs.
        try:  # _ours(), inlined
            ours = fcntl.fcntl(self._clear, fcntl.F_GETFL) == self._clear_flags
        except (OSError, ValueError):
            ours = False
        if not ours:
            return self._lose().lap()
        getrusage = resource.getrusage
        peak_kib = getrusage(_PEAK_OF).ru_maxrss
        peak = peak_kib * _KIB if peak_kib > self._floor else self._status_peak()
        # ru_maxrss of the children is the largest child ever reaped: it names a child of
        # this test only when it grew during the test.
        reaped = getrusage(_CHILDREN).ru_maxrss
        children = reaped * _KIB if reaped > self._reaped_before else 0
        self._reaped_before = reaped
        try:
            live = self._children >= 0 and os.pread(self._children, 16, 0) != b""
        except OSError:
            live = False
        if live:
            children += _live_descendants_peak(os.getpid())
        start = self._start_rss
        self._reset()
        # Children still running now may be reaped before the next test (the leak check
        # kills them): their peak was counted here, so the next test takes its own start.
        self._armed = not live
        added = peak - start if peak > start else 0
        return Measurement(added + children, self._start_rss - start, peak, children, start)

    def close(self) -> None:
        for fd in (self._clear, self._status, self._statm, self._children):
            if fd >= 0:
                os.close(fd)
        self._children = -1


# Flags no test opens a file with, all together: the clear_refs descriptor is known as
# ours by them (fcntl's F_GETFL: a fifth of what an fstat costs, which builds a whole
# stat result), should a test close it and the number be reused. O_DSYNC cannot be set
# but at open(); O_NOATIME needs the file's owner (this process is its /proc files').
# Most distinctive first: where a kernel refuses a mark, the meter still gets its exact
# descriptor, known by fewer marks (at worst by being open at all).
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_DSYNC = getattr(os, "O_DSYNC", 0)
_O_NOATIME = getattr(os, "O_NOATIME", 0)
_MARKINGS = (
    os.O_APPEND | _O_NONBLOCK | _O_DSYNC | _O_NOATIME,
    os.O_APPEND | _O_NONBLOCK | _O_DSYNC,
    0,
)


def _open_marked(path: str) -> tuple[int, int]:
    """``path`` opened for writing with the most marking flags the kernel accepts, and
    its F_GETFL flags."""
    for marks in _MARKINGS[:-1]:
        try:
            fd = os.open(path, os.O_WRONLY | marks)
            break
        except OSError:  # a mark refused (or no such file: the last try says so)
            continue
    else:
        fd = os.open(path, os.O_WRONLY | _MARKINGS[-1])
    try:
        return fd, fcntl.fcntl(fd, fcntl.F_GETFL)
    except OSError:
        os.close(fd)
        raise


def _live_descendants_peak(pid: int) -> int:
    """The sum of the peaks (``VmHWM``) of ``pid``'s live descendants (children of its
    main thread, recursively). A child that exits meanwhile is skipped."""
    total = 0
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as file:
            children = [int(child) for child in file.read().split()]
    except (OSError, ValueError):
        return 0
    for child in children:
        try:
            with open(f"/proc/{child}/status", "rb") as file:
                text = file.read()
        except OSError:
            continue
        at = text.find(b"VmHWM:")
        if at >= 0:
            total += int(text[at + 6 : text.find(b"kB", at)]) * _KIB
        total += _live_descendants_peak(child)
    return total


class FallbackMeter(Meter):
    """Where the peak cannot be reset: the process's all-time peak (``ru_maxrss``, or
    the peak working set on Windows) shows a test's peak only when it sets a new high;
    otherwise the size after teardown is all that is seen. Children: reaped ones as on
    Linux, live ones through psutil."""

    name = "fallback"

    def __init__(self) -> None:
        import psutil  # only where it is needed: 12 ms of every run's start-up on Linux

        self._psutil = psutil
        self._process: psutil.Process = psutil.Process()
        # ru_maxrss is in bytes on macOS, in KiB elsewhere.
        self._unit = 1 if sys.platform == "darwin" else _KIB
        self._start_rss = 0
        self._start_peak = 0
        self._reaped_before = 0

    def resident(self) -> int:
        return int(self._process.memory_info().rss)

    def peak_since_start(self) -> int:
        info = self._process.memory_info()
        if resource is not None:
            return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * self._unit, info.rss)
        return int(getattr(info, "peak_wset", info.rss))

    def start(self) -> None:
        self._start_peak = self.peak_since_start()
        self._start_rss = self.resident()
        if resource is not None:
            self._reaped_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss

    def lap(self) -> Measurement:
        measured = self.finish()
        self.start()
        # As on Linux: with children about, the next test takes its own start.
        self._armed = not measured.children
        return measured

    def finish(self) -> Measurement:
        """The test since :meth:`start`, without starting the next."""
        peak = self.peak_since_start()
        rss = self.resident()
        seen = peak if peak > self._start_peak else rss
        children = 0
        if resource is not None:
            reaped = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            if reaped > self._reaped_before:
                children = reaped * self._unit
        try:
            for child in self._process.children(recursive=True):
                children += int(child.memory_info().rss)
        except self._psutil.Error:
            pass
        start = self._start_rss
        return Measurement(
            max(seen - start, 0) + children, rss - start, max(peak, rss), children, start
        )


def make_meter() -> Meter:
    """The exact meter where the kernel offers it, else the fallback."""
    if sys.platform.startswith("linux") and resource is not None:
        try:
            return ProcMeter()
        except OSError:
            pass
    return FallbackMeter()
