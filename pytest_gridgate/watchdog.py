"""Stage two of the timeouts gate: ending a test that stage one could not interrupt.

pytest-timeout's signal method (stage one) only works while the interpreter executes
bytecode in the main thread. A test stuck in C code, with SIGALRM blocked, or running
outside the main thread ignores it. Two agents watch for that, both armed once per test
with a deadline (the test's timeout plus ``kill_after``):

* :class:`Watchdog`, a thread named ``gridgate-watchdog``. When the deadline passes it calls
  back into the plugin, which dumps the stacks, records the verdict, kills the test's
  children and ends the process. It needs the GIL, so it cannot act against C code that
  holds it (``sum(range(10**12))`` never releases it).
* :class:`Supervisor`, a small process (:mod:`pytest_gridgate.supervisor`, named
  ``gridgate-watchdog`` too) that needs no GIL of ours: if the deadline passed a second ago
  and the thread has not taken over, it dumps the stacks through faulthandler, kills the
  process tree and leaves the verdict.

Arming costs a lock and a few bytes written to shared memory, so every test can afford it.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from mmap import mmap
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

THREAD_NAME = "gridgate-watchdog"
# How long the supervisor gives the watchdog thread to act before assuming the GIL is held.
GRACE = 1.0
# faulthandler dumps every thread's stack on this signal, in C, without the GIL.
DUMP_SIGNAL = signal.SIGRTMIN + 5 if hasattr(signal, "SIGRTMIN") else signal.SIGUSR2


class Armed:
    """The test (or collection) that the watchdog currently guards.

    A plain class: generating a dataclass's methods costs every run more at start-up than
    this whole class.
    """

    __slots__ = ("deadline", "generation", "nodeid", "seconds", "started", "thread_id")

    def __init__(
        self,
        nodeid: str,
        seconds: float,  # the soft timeout, for the report
        deadline: float,  # time.monotonic() at which stage two begins
        started: float,  # since_boot() when armed: children created later belong to the test
        thread_id: int,  # the thread running the test
        generation: int,
    ) -> None:
        self.nodeid = nodeid
        self.seconds = seconds
        self.deadline = deadline
        self.started = started
        self.thread_id = thread_id
        self.generation = generation


class Watchdog:
    """A single long-lived thread that fires ``on_expire`` when the armed deadline passes.

    Re-arming does not wake the thread when the new deadline is later than the moment it
    will wake anyway, so a steady stream of short tests costs a lock and no context switch.
    """

    def __init__(self, on_expire: Callable[[Armed], None]) -> None:
        self._on_expire = on_expire
        self._lock = threading.Lock()  # entered directly: Condition's own __enter__ is Python
        self._cond = threading.Condition(self._lock)
        self._armed: Armed | None = None
        self._wake_at: float | None = None  # None: waiting without a timeout
        self._generation = 0
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.supervisor: Supervisor | None = None

    def arm(
        self, nodeid: str, seconds: float, after: float, index: int = -1, started: float = 0.0
    ) -> Armed:
        deadline = time.monotonic() + after
        with self._lock:
            self._generation += 1
            armed = self._armed = Armed(
                nodeid,
                seconds,
                deadline,
                started or since_boot(),
                threading.get_ident(),
                self._generation,
            )
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
                self._thread.start()
            elif self._wake_at is None or deadline < self._wake_at:
                self._cond.notify()
        if self.supervisor is not None and index != -1:
            self.supervisor.arm(armed, index)
        return armed

    def disarm(self) -> None:
        # No notify: the thread wakes at the old deadline, finds nothing armed and sleeps on.
        self._armed = None
        if self.supervisor is not None:
            self.supervisor.disarm()

    @property
    def armed(self) -> Armed | None:
        return self._armed

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
                    remaining = armed.deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._wake_at = armed.deadline
                    self._cond.wait(remaining)
                self._armed = None  # fire once per arming
            if self.supervisor is not None:
                self.supervisor.mark_handled()
            # Usually ends the process; returns when it must not (someone is in pdb).
            self._on_expire(armed)


# -- the supervisor process ------------------------------------------------------------------

# The state shared with the supervisor (which receives the format on its command line):
# generation, deadline (time.monotonic(); 0 = disarmed), handled flag, stop flag, index of
# the test in the nodeids file, its timeout in seconds.
STATE = struct.Struct("<QdBBid")
_DEADLINE = struct.Struct("<d")  # at offset 8; disarmed is 0
_FLAG = struct.Struct("<B")  # handled at offset 16, stop at 17
COLLECTION_INDEX = -2  # armed for collection, not a test


class Supervisor:
    """The pytest side of :mod:`pytest_gridgate.supervisor`: starts it, shares the deadline.

    The state is a small file mapped into both processes; arming writes a few bytes into
    it, with no system call. ``spec`` tells the supervisor what it needs to leave a verdict
    (see ``supervisor.take_over``); :meth:`set_nodeids` maps the armed index to a test
    (``COLLECTION_INDEX`` while collecting).
    """

    def __init__(self, spec: dict[str, Any], stdio: tuple[int, int]) -> None:
        import json
        import subprocess
        import tempfile

        self._dir = Path(tempfile.mkdtemp(prefix="gridgate-watchdog-"))
        state = self._dir / "state"
        state.write_bytes(bytes(STATE.size))
        with state.open("r+b") as fh:
            self._shared = mmap(fh.fileno(), STATE.size)
        self.snapshot_path = self._dir / "snapshot.json"
        stdout_fd, stderr_fd = stdio
        spec = {
            **spec,
            "nodeids": str(self._dir / "nodeids"),
            "snapshot": str(self.snapshot_path),
            "stdout": stdout_fd,
            "stderr": stderr_fd,
            "dump_signal": int(DUMP_SIGNAL),
        }
        (self._dir / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        faulthandler.register(DUMP_SIGNAL, file=stderr_fd, all_threads=True, chain=False)
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-I",
                "-S",
                "-c",
                # Imported rather than run as a script, so that its bytecode is cached
                # (a script is compiled at every start); not imported in this process.
                f"import sys; sys.path.append({str(Path(__file__).parent.parent)!r}); "
                "from pytest_gridgate.supervisor import main; sys.exit(main(sys.argv))",
                str(self._dir),
                str(os.getpid()),
                str(GRACE),
                STATE.format,
            ],
            stdin=subprocess.DEVNULL,
            pass_fds=(stdout_fd, stderr_fd),
        )
        self.pid = self._proc.pid

    def set_nodeids(self, nodeids: list[str]) -> None:
        (self._dir / "nodeids").write_text("\n".join(nodeids) + "\n", encoding="utf-8")

    def arm(self, armed: Armed, index: int) -> None:
        STATE.pack_into(
            self._shared, 0, armed.generation, armed.deadline, 0, 0, index, armed.seconds
        )

    def disarm(self) -> None:
        _DEADLINE.pack_into(self._shared, 8, 0.0)

    def mark_handled(self) -> None:
        _FLAG.pack_into(self._shared, 16, 1)

    def snapshot(self, data: dict[str, Any]) -> None:
        """The report as it stands, for the supervisor to complete if it must kill us."""
        import json

        partial = self.snapshot_path.with_suffix(".tmp")
        partial.write_text(json.dumps(data), encoding="utf-8")
        os.replace(partial, self.snapshot_path)

    def stop(self) -> None:
        import shutil
        import subprocess

        _FLAG.pack_into(self._shared, 17, 1)
        self._proc.terminate()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()  # gridgate: ignore[GG006] after SIGKILL the wait returns at once
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
    root: int, *, exclude: int | None = None, include_root: bool = False, since: float = 0.0
) -> list[str]:
    """Kill ``root``'s descendants (started at or after ``since``, see :func:`since_boot`).

    Returns one line per killed process (pid and command) for the report.
    """
    import psutil  # only when something timed out: the import is not free

    try:
        parent = psutil.Process(root)
        victims = parent.children(recursive=True)
    except psutil.Error:
        return []
    if include_root:
        victims.append(parent)
    boot = psutil.boot_time()
    chosen: list[psutil.Process] = []
    killed: list[str] = []
    for proc in victims:
        try:
            # /proc start times count clock ticks (10 ms): allow one tick.
            if proc.pid == exclude or (since and proc.create_time() - boot < since - 0.02):
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
