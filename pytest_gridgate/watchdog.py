"""Stage two of the timeouts gate: ending a test that stage one could not interrupt.

pytest-timeout's signal method (stage one) only works while the interpreter executes
bytecode in the main thread. A test stuck in C code, with SIGALRM blocked, or running
outside the main thread ignores it. Two agents watch for that, both armed once per test
with a deadline (the test's timeout plus ``kill_after``):

* :class:`Watchdog`, a thread named ``gridgate-watchdog``. When the deadline passes it calls
  back into the plugin, which dumps the stacks, records the verdict, kills the test's
  children and ends the process. It needs the GIL, so it cannot act against C code that
  holds it (``sum(range(10**12))`` never releases it).
* :class:`Supervisor`, a process that needs no GIL of ours: a POSIX shell loop
  (:data:`WATCHER`, named ``gridgate-watchdog`` too: a shell starts in well under a
  millisecond of CPU, a Python interpreter in about 8 ms, and every run pays for it). If
  the deadline passed more than a second ago and the thread has not taken over, it starts
  the take-over (:mod:`pytest_gridgate.supervisor`), which dumps the stacks through
  faulthandler, kills the process tree and leaves the verdict.

Arming costs a lock and one line written to shared memory, so every test can afford it.
"""

from __future__ import annotations

import contextlib
import faulthandler
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from mmap import mmap
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import asyncio

THREAD_NAME = "gridgate-watchdog"
# How long the supervisor gives the watchdog thread to act before assuming the GIL is held.
GRACE = 1.0
# The longest timer armed (a week, the largest ``timeouts.session`` allowed): ``setitimer``
# refuses more than about 10**9 seconds (OverflowError), a lock's wait more than about
# 9 * 10**9, and a longer wait is as good as none. A timeout from a marker or ``--timeout``
# (pytest-timeout's, not checked by gridgate's configuration) may be anything, ``inf`` and
# NaN included: both are armed as this.
LONGEST = 7 * 86400.0


def clamp(seconds: float) -> float:
    """``seconds`` as a timer can take it: at most :data:`LONGEST` (NaN and inf too)."""
    return seconds if seconds <= LONGEST else LONGEST  # NaN <= x is False


# faulthandler dumps every thread's stack on this signal, in C, without the GIL.
DUMP_SIGNAL = signal.SIGRTMIN + 5 if hasattr(signal, "SIGRTMIN") else signal.SIGUSR2


class Armed:
    """The test (or collection) that the watchdog was armed for, as its thread fires.

    A plain class: generating a dataclass's methods costs every run more at start-up than
    this whole class.
    """

    __slots__ = ("deadline", "generation", "nodeid", "seconds", "thread_id")

    def __init__(
        self,
        nodeid: str,
        seconds: float,  # the soft timeout, for the report
        deadline: float,  # time.monotonic() at which stage two begins
        thread_id: int,  # the thread running the test
        generation: int,
    ) -> None:
        self.nodeid = nodeid
        self.seconds = seconds
        self.deadline = deadline
        self.thread_id = thread_id
        self.generation = generation


# What Watchdog.arm keeps: Armed's arguments, as a tuple. Building an Armed costs more than
# the rest of arming, which runs for every test; it is built when the thread fires.
_Arming = tuple[str, float, float, int, int]
_DEADLINE: Final = 2  # its index


class Watchdog:
    """A single long-lived thread that fires ``on_expire`` when the armed deadline passes,
    and, once :meth:`supervise` was called, the line that tells the supervisor's watcher.

    Re-arming does not wake the thread when the new deadline is later than the moment it
    will wake anyway, so a steady stream of short tests costs a lock and no context switch.
    The watcher's line is written here rather than by a method of :class:`Supervisor`:
    arming runs once per test, and a call costs as much as the write.
    """

    def __init__(self, on_expire: Callable[[Armed], None]) -> None:
        self._on_expire = on_expire
        self._lock = threading.Lock()  # entered directly: Condition's own __enter__ is Python
        self._cond = threading.Condition(self._lock)
        self._armed: _Arming | None = None
        self._wake_at: float | None = None  # None: waiting without a timeout
        self._generation = 0
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.supervisor: Supervisor | None = None
        self._state: mmap | None = None  # the supervisor's state line
        self._line = b""  # _LINE with TICKS and SECONDS filled in...
        self._after = self._seconds = -1.0  # ...for these

    def supervise(self, supervisor: Supervisor, index: int) -> None:
        """Tell ``supervisor`` what is armed from now on (``index``: what is armed now)."""
        self.supervisor = supervisor
        self._state = supervisor.state
        if self._armed is not None:
            armed = Armed(*self._armed)
            self._format(armed.deadline - time.monotonic(), armed.seconds)
            self._state[:] = self._line % (armed.generation, index)

    def arm(self, nodeid: str, seconds: float, after: float, index: int = -1) -> float:
        """Stage two is due ``after`` seconds from now (the deadline returned); ``index``:
        the test's line in the supervisor's nodeids file (``COLLECTION_INDEX`` while
        collecting; -1: not known to the supervisor)."""
        if not after <= LONGEST:  # also NaN: formatting and waiting would overflow
            after = LONGEST
        deadline = time.monotonic() + after
        lock = self._lock
        lock.acquire()  # not ``with``: half the cost, once per test
        try:
            generation = self._generation = self._generation + 1
            self._armed = (nodeid, seconds, deadline, threading.get_ident(), generation)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
                self._thread.start()
            elif self._wake_at is None or deadline < self._wake_at:
                self._cond.notify()
        finally:
            lock.release()
        state = self._state
        if state is not None and index != -1:
            if after != self._after or seconds != self._seconds:
                self._format(after, seconds)
            state[:] = self._line % (generation, index)  # no system call
        return deadline

    def _format(self, after: float, seconds: float) -> None:
        # Formatting a float costs more than the rest of arming: once per distinct timeout.
        ticks = min(max(math.ceil(after + GRACE), 1), _MAX_TICKS)
        self._line = _LINE % (ticks, seconds)
        self._after, self._seconds = after, seconds

    def disarm(self) -> None:
        # No notify: the thread wakes at the old deadline, finds nothing armed and sleeps on.
        self._armed = None
        state = self._state
        if state is not None:
            state[_TICKS] = _NOT_ARMED

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._cond.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self.supervisor is not None:
            self.supervisor.stop()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopped:
                        return
                    armed = self._armed
                    if armed is None:
                        self._wake_at = None
                        self._cond.wait()
                        continue
                    remaining = armed[_DEADLINE] - time.monotonic()
                    if remaining <= 0:
                        break
                    self._wake_at = armed[_DEADLINE]
                    self._cond.wait(remaining)
                self._armed = None  # fire once per arming
            if self._state is not None:
                self._state[_TICKS] = _NOT_ARMED  # this thread acts: the watcher stands down
            # Usually ends the process; returns when it must not (someone is in pdb).
            self._on_expire(Armed(*armed))


# -- the supervisor ----------------------------------------------------------------------------

# The state shared with the watcher: one fixed-width ASCII line "GEN TICKS SECONDS INDEX\n",
# read by the shell's ``read`` builtin. GEN changes at every arming; TICKS is how many whole
# seconds after seeing GEN the watcher waits before it takes over (0: nothing armed); SECONDS
# is the test's timeout and INDEX its line in the nodeids file, both for the report.
_LINE = b"%%10d %10d %24a %%10d\n"  # TICKS SECONDS filled in once per distinct timeout
_TICKS = slice(11, 21)
_NOT_ARMED = b"%10d" % 0
_MAX_TICKS = 10**10 - 1  # the field's width; a longer timeout is as good as none
COLLECTION_INDEX = -2  # armed for collection, not a test
_COLLECTING_SIZE = 1024  # the collecting file: a nodeid and a newline, cut to fit

# The watcher. It wakes every second (a killed ``sleep`` does not count) and counts the
# wake-ups during which the same GEN stays armed, from its first sight of GEN; TICKS of
# them come at least TICKS seconds after the arming: it errs late, never early. Then it
# starts the Python take-over (``supervisor.main``) as its child, which reads the state
# again: exit 0, the run was ended (or is gone); else the test finished meanwhile, and it
# watches on. A field that is not a number (a read torn by a write) counts as unarmed.
WATCHER = """
state=$1 parent=$2
shift 2
printf gridgate-watchdog >"/proc/$$/comm"
armed= count=0
while :; do
    sleep 1
    slept=$?
    [ "$slept" -gt 128 ] && continue  # sleep killed (by some cleanup): sleep again
    [ "$slept" -eq 0 ] || exit 0  # no sleep to be had: never spin
    # Orphaned: the run died without stopping us; clean up after it. Not `kill -0`, which
    # a dead run passes until it is reaped, and whoever would reap it may be reading its
    # output until we close our copy.
    read -r pid comm run_state ppid rest <"/proc/$$/stat" || exit 0
    if [ "$ppid" != "$parent" ]; then
        rm -rf "${state%/*}"
        exit 0
    fi
    read -r gen ticks rest <"$state" || exit 0
    case $gen in '' | *[!0-9]* | ???????????*) armed=; continue ;; esac
    case $ticks in '' | *[!0-9]* | ???????????*) armed=; continue ;; esac
    if [ "$ticks" -eq 0 ]; then
        armed=
    elif [ "$gen" != "$armed" ]; then
        armed=$gen count=0
    else
        count=$((count + 1))
        if [ "$count" -ge "$ticks" ]; then
            "$@" "$gen" && exit 0
            armed=
        fi
    fi
done
"""


class Supervisor:
    """The pytest side of stage two's watcher (:data:`WATCHER`): starts and stops it.

    ``state`` is a small file mapped into this process that the watcher reads once a
    second; :class:`Watchdog` writes what is armed into it, with no system call. ``spec``
    tells the take-over what it needs to leave a verdict (see ``supervisor.take_over``);
    :meth:`set_nodeids` maps the armed index to a test.
    """

    def __init__(self, spec: dict[str, Any], stdio: tuple[int, int]) -> None:
        import json
        import shutil
        import subprocess
        import tempfile

        self._dir = Path(tempfile.mkdtemp(prefix="gridgate-watchdog-"))
        state = self._dir / "state"
        idle = _LINE % (0, 0.0) % (0, COLLECTION_INDEX)
        state.write_bytes(idle)
        with state.open("r+b") as fh:
            self.state = mmap(fh.fileno(), len(idle))  # written by Watchdog
        # The collector being collected, for a take-over during collection: C code cannot
        # be inspected from outside, so the module stuck at import is named in advance.
        collecting = self._dir / "collecting"
        collecting.write_bytes(b"\n" + b" " * (_COLLECTING_SIZE - 1))
        with collecting.open("r+b") as fh:
            self._collecting = mmap(fh.fileno(), _COLLECTING_SIZE)
        self.snapshot_path = self._dir / "snapshot.json"
        stdout_fd, stderr_fd = stdio
        spec = {
            **spec,
            "nodeids": str(self._dir / "nodeids"),
            "collecting": str(collecting),
            "snapshot": str(self.snapshot_path),
            "stdout": stdout_fd,
            "stderr": stderr_fd,
            "dump_signal": int(DUMP_SIGNAL),
        }
        (self._dir / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        pid = str(os.getpid())
        take_over = [
            sys.executable,
            "-I",
            "-S",
            "-c",
            # Imported rather than run as a script, so that its bytecode is cached (a
            # script is compiled at every start); not imported in this process.
            f"import sys; sys.path.append({str(Path(__file__).parent.parent)!r}); "
            "from pytest_gridgate.supervisor import main; sys.exit(main(sys.argv))",
            str(self._dir),
            pid,
        ]
        # argv[0] names it in ps (and for the leaks gate) before it renames itself.
        watcher = ["gridgate-watchdog", "-c", WATCHER, "gridgate-watchdog", str(state), pid]
        try:
            self._proc = subprocess.Popen(
                [*watcher, *take_over],
                executable="/bin/sh",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(stdout_fd, stderr_fd),
                # Its own process group, so that stop() ends it and its sleep at once, and
                # the terminal's Ctrl-C (pytest's to handle) does not reach it.
                start_new_session=True,
            )
        except OSError:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        self.pid = self._proc.pid
        faulthandler.register(DUMP_SIGNAL, file=stderr_fd, all_threads=True, chain=False)

    def collecting(self, nodeid: str) -> None:
        """Name the collector being collected now (a memory write, no system call)."""
        line = nodeid.encode("utf-8", "replace")[: _COLLECTING_SIZE - 1] + b"\n"
        self._collecting[: len(line)] = line

    def set_nodeids(self, nodeids: list[str]) -> None:
        (self._dir / "nodeids").write_text("\n".join(nodeids) + "\n", encoding="utf-8")

    def snapshot(self, data: dict[str, Any]) -> None:
        """The report as it stands, for the take-over to complete if it must kill us."""
        import json

        partial = self.snapshot_path.with_suffix(".tmp")
        partial.write_text(json.dumps(data), encoding="utf-8")
        os.replace(partial, self.snapshot_path)

    def stop(self) -> None:
        import shutil
        import subprocess

        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)  # the shell has nothing to clean up
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5)
        faulthandler.unregister(DUMP_SIGNAL)
        shutil.rmtree(self._dir, ignore_errors=True)


# -- killing the test's processes ------------------------------------------------------------


_BOOTTIME = getattr(time, "CLOCK_BOOTTIME", None)


def since_boot() -> float:
    """Seconds since boot, the clock of a process's start time in /proc (cheap to read).

    Comparing ``time.time()`` with psutil's ``create_time()`` is off by up to a second,
    since the boot time that psutil adds is rounded to whole seconds.
    """
    return time.clock_gettime(_BOOTTIME) if _BOOTTIME is not None else 0.0


def kill_tree(
    root: int, *, spare: int | None = None, include_root: bool = False, since: float = 0.0
) -> list[str]:
    """Kill ``root``'s descendants (started at or after ``since``, see :func:`since_boot`),
    except ``spare`` and everything below it (the watcher and its ``sleep``).

    Returns one line per killed process (pid and command) for the report.
    """
    import psutil  # only when something timed out: the import is not free

    try:
        parent = psutil.Process(root)
        victims = parent.children(recursive=True)
    except psutil.Error:
        return []
    spared = set()
    if spare is not None:
        # Listed after the victims: a process started in between is in neither list.
        with contextlib.suppress(psutil.Error):
            spared = {spare, *(p.pid for p in psutil.Process(spare).children(recursive=True))}
    if include_root:
        victims.append(parent)
    boot = psutil.boot_time()
    chosen: list[psutil.Process] = []
    killed: list[str] = []
    for proc in victims:
        try:
            # /proc start times count clock ticks (10 ms): allow one tick.
            if proc.pid in spared or (since and proc.create_time() - boot < since - 0.02):
                continue
            described = f"pid {proc.pid} {' '.join(proc.cmdline())[:80]!r}"
            proc.kill()
        except psutil.Error:
            continue
        chosen.append(proc)
        killed.append(described)
    psutil.wait_procs(chosen, timeout=2)
    return killed


# -- where a test is stuck ---------------------------------------------------------------------


def _frames(frame: FrameType | None) -> Iterator[FrameType]:
    while frame is not None:
        yield frame
        frame = frame.f_back


def _is_project(filename: str, root: str) -> bool:
    return (
        filename.startswith(root)
        and "site-packages" not in filename
        and f"{os.sep}_pytest{os.sep}" not in filename
        and f"{os.sep}pytest_gridgate{os.sep}" not in filename
    )


def describe(frame: FrameType, root: Path) -> str:
    return f"{_relative(frame.f_code.co_filename, root)}:{frame.f_lineno} in {frame.f_code.co_name}"


def _relative(filename: str, root: Path) -> str:
    try:
        return Path(filename).relative_to(root).as_posix()
    except ValueError:
        return filename


def where_stuck(frame: FrameType | None, root: Path) -> str | None:
    """The innermost frame in the project's own code (not pytest, not site-packages)."""
    fallback = None
    for f in _frames(frame):
        if _is_project(f.f_code.co_filename, str(root)):
            return describe(f, root)
        fallback = fallback or f
    return describe(fallback, root) if fallback is not None else None


def phase_of(frame: FrameType | None) -> str | None:
    """setup, call or teardown: read from pytest's ``call_and_report`` frame on the stack."""
    for f in _frames(frame):
        if f.f_code.co_name == "call_and_report" and "when" in f.f_locals:
            return str(f.f_locals["when"])
    return None


def awaiting(frame: FrameType | None, root: Path, *, own_thread: bool) -> list[str]:
    """Lines that the event loop's pending tasks are awaiting (innermost coroutine).

    Works from the loop's own thread (the SIGALRM handler) and from another thread (the
    watchdog), where the loop is found as ``self`` of its ``run_forever`` frame.
    """
    aio = sys.modules.get("asyncio")
    if aio is None:  # not imported: no event loop can be running
        return []
    loop: asyncio.AbstractEventLoop | None = None
    if own_thread:
        loop = aio.events._get_running_loop()
    if loop is None:
        for f in _frames(frame):
            candidate = f.f_locals.get("self")
            if isinstance(candidate, aio.AbstractEventLoop):
                loop = candidate
                break
    if loop is None:
        return []
    lines = []
    try:
        tasks = list(aio.all_tasks(loop))
    except RuntimeError:
        return []
    for task in tasks:
        stack = _coroutine_frames(task.get_coro())
        own = [f for f in stack if _is_project(f.f_code.co_filename, str(root))]
        if own or stack:
            lines.append(f"{task.get_name()} awaiting at {describe((own or stack)[-1], root)}")
    return lines


def _coroutine_frames(coro: Any) -> list[FrameType]:
    """The frames of a suspended coroutine and of everything it awaits, outermost first.

    ``Task.get_stack()`` stops at the task's own coroutine; the line that hangs is usually
    further in, down the ``cr_await`` chain.
    """
    frames = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            frames.append(frame)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return frames


def thread_frame(thread_id: int) -> FrameType | None:
    return sys._current_frames().get(thread_id)
