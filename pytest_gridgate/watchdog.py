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
            supervisor = self.supervisor
            if supervisor is not None and not supervisor.alive():
                supervisor.restart()  # a test killed it: no test may run unwatched
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
            self.supervisor = None
            self._state = None  # closed: arming after the run writes nowhere

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
#
# It is not a child of the run: the script puts the loop in the background and exits, so
# the loop belongs to init (or the nearest subreaper), which reaps it. A test that kills
# every child of its process (``psutil.Process().children(recursive=True)``, a common
# cleanup idiom) would otherwise kill it, and a later test holding the GIL would hang the
# run. It watches the run by its /proc entry and start time instead of its parent: gone,
# a zombie or another process means the run ended. A run that ended without stopping it
# (``os._exit``, a kill from outside, a crash in C) gets the take-over's "ended" report.
WATCHER = """
watch() {
    state=$1 parent=$2 started=$3
    shift 3
    printf gridgate-watchdog >/proc/self/comm
    armed= count=0
    while :; do
        sleep 1
        slept=$?
        [ "$slept" -gt 128 ] && continue  # sleep killed (by some cleanup): sleep again
        [ "$slept" -eq 0 ] || exit 0  # no sleep to be had: never spin
        line=
        read -r line <"/proc/$parent/stat" 2>/dev/null
        if [ -z "$line" ] || ! same_run ${line##*) }; then
            [ -d "${state%/*}" ] && "$@" ended
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
}
# The run's /proc/PID/stat after "(comm) ": state is field 1, the start time field 20.
same_run() {
    [ "$1" != Z ] && [ "$1" != X ] && [ "${20}" = "$started" ]
}
# exec, not a redirection of the call: dash keeps a copy of the descriptors it redirects
# for a function, and the launcher's stdout would never reach end of file.
(exec </dev/null >/dev/null 2>&1; watch "$@") &
echo $!
"""


def _start_time(pid: int) -> str:
    """The start time of ``pid`` (field 22 of /proc/PID/stat): with the pid, one process."""
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[19]


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
        started = _start_time(os.getpid())
        watcher = ["gridgate-watchdog", "-c", WATCHER, "gridgate-watchdog", str(state), pid]
        watcher.append(started)
        self._argv = [*watcher, *take_over]
        self._stdio = stdio
        self._exited: Any = None  # polls the watcher's pidfd: readable once it has ended
        self._pidfd = -1
        try:
            self.pid, self._group = self._start()
        except OSError:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        self._watch_exit()
        faulthandler.register(DUMP_SIGNAL, file=stderr_fd, all_threads=True, chain=False)
        _LIVE.append(self)

    def _start(self) -> tuple[int, int]:
        """Start the watcher; its pid and process group."""
        import subprocess

        launcher = subprocess.Popen(
            self._argv,
            executable="/bin/sh",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            pass_fds=self._stdio,
            # Its own process group, so that stop() ends the watcher and its sleep at once,
            # and the terminal's Ctrl-C (pytest's to handle) does not reach it.
            start_new_session=True,
        )
        try:
            out, _ = launcher.communicate(timeout=60)  # the launcher only forks and exits
        except subprocess.TimeoutExpired as exc:
            with contextlib.suppress(OSError):
                os.killpg(launcher.pid, signal.SIGKILL)  # and a watcher it may have forked
            with contextlib.suppress(subprocess.TimeoutExpired):
                launcher.wait(timeout=5)
            raise OSError(f"the watcher did not start: {exc}") from None
        try:
            return int(out), launcher.pid
        except ValueError:
            raise OSError(f"the watcher did not start: {out!r}") from None

    def _watch_exit(self) -> None:
        """A pidfd of the watcher: it becomes readable as the watcher ends, before anyone
        reaps it (``kill(pid, 0)`` still finds a zombie, and init reaps it when it can)."""
        import select

        self._forget_exit()
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # before Linux 5.3: kill(pid, 0) it is
            return
        self._exited = select.poll()
        self._exited.register(self._pidfd, select.POLLIN)

    def _forget_exit(self) -> None:
        if self._pidfd >= 0:
            os.close(self._pidfd)
        self._pidfd, self._exited = -1, None

    def alive(self) -> bool:
        """Whether the watcher still runs (one system call): though it is no child of the
        run, a test may still kill it."""
        if self._exited is not None:
            return not self._exited.poll(0)
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True  # not ours to signal: someone else's process took the pid? rare
        return not _is_zombie(self.pid)

    def restart(self) -> None:
        """Start the watcher again over the same state (the files outlive it)."""
        old = self.pid
        try:
            self.pid, self._group = self._start()
        except OSError as exc:
            text = f"gridgate: the timeouts supervisor (pid {old}) died; no new one: {exc}\n"
            self._forget_exit()  # and the run goes on without it, as without /bin/sh
        else:
            text = f"gridgate: the timeouts supervisor (pid {old}) was killed; restarted\n"
            self._watch_exit()
        with contextlib.suppress(OSError):
            os.write(self._stdio[1], text.encode())

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

        with contextlib.suppress(OSError):
            os.killpg(self._group, signal.SIGKILL)  # the shell has nothing to clean up
        # Gone before the run ends (its reaper is init: wait a little, never long), so that
        # whoever checks for processes left behind finds none.
        for _ in range(200):
            if not self.alive() or _is_zombie(self.pid):
                break
            time.sleep(0.005)
        self._forget_exit()
        if self in _LIVE:
            _LIVE.remove(self)
            # Sessions nest (pytester in-process): the enclosing run's dump goes to its
            # own stderr again, and stays registered.
            if _LIVE:
                fd = _LIVE[-1]._stdio[1]
                faulthandler.register(DUMP_SIGNAL, file=fd, all_threads=True, chain=False)
            else:
                faulthandler.unregister(DUMP_SIGNAL)
        self.state.close()
        self._collecting.close()
        shutil.rmtree(self._dir, ignore_errors=True)


# The supervisors of this process's runs, innermost last: whose stderr the dump signal uses.
_LIVE: list[Supervisor] = []


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


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
