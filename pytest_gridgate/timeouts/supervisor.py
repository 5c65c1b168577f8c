"""The pytest side of stage two's supervisor: starts, restarts and stops the watcher.

The watcher (``watcher.sh``, shipped beside this module) is a POSIX shell loop started
once per run that needs no GIL of ours: if a test's stage-two deadline passed more than a
second ago and the watchdog thread has not acted (C code holds the GIL), it starts the
take-over (:mod:`pytest_gridgate.timeouts.takeover`), which dumps the stacks through
faulthandler, kills the process tree and leaves the verdict.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
import time
from mmap import mmap
from pathlib import Path
from typing import Any

from pytest_gridgate import process_tree
from pytest_gridgate.timeouts.state import COLLECTING_SIZE, NAME, idle_line

#: faulthandler dumps every thread's stack on this signal, in C, without the GIL.
DUMP_SIGNAL = signal.SIGRTMIN + 5 if hasattr(signal, "SIGRTMIN") else signal.SIGUSR2
WATCHER = Path(__file__).with_name("watcher.sh")
# The take-over, started by the watcher: ``python -I -S`` (standard library only). It is
# imported rather than run as a script, so that its bytecode is cached (a script is
# compiled at every start), and its package stands in as an empty module: the package's
# own ``__init__`` is the timeouts gate, which imports pytest (tens of milliseconds).
_TAKE_OVER = (
    "import sys; sys.path.append({root!r}); m = type(sys)('pytest_gridgate.timeouts'); "
    "m.__path__ = [{package!r}]; sys.modules[m.__name__] = m; "
    "from pytest_gridgate.timeouts.takeover import main; sys.exit(main(sys.argv))"
)


def take_over_command(directory: str, pid: int) -> list[str]:
    """The command line of the take-over for the run ``pid`` whose state is in ``directory``."""
    package = Path(__file__).parent
    code = _TAKE_OVER.format(root=str(package.parent.parent), package=str(package))
    return [sys.executable, "-I", "-S", "-c", code, directory, str(pid)]


class Supervisor:
    """The watcher (:data:`WATCHER`) of one run.

    ``state`` is a small file mapped into this process that the watcher reads once a
    second; :class:`Watchdog` writes what is armed into it, with no system call. ``spec``
    tells the take-over what it needs to leave a verdict (see ``takeover.take_over``);
    :meth:`set_nodeids` maps the armed index to a test.
    """

    def __init__(self, spec: dict[str, Any], stdio: tuple[int, int]) -> None:
        import json
        import shutil
        import tempfile

        self._dir = Path(tempfile.mkdtemp(prefix="gridgate-watchdog-"))
        state = self._dir / "state"
        idle = idle_line()
        state.write_bytes(idle)
        with state.open("r+b") as fh:
            self.state = mmap(fh.fileno(), len(idle))  # written by Watchdog
        # The collector being collected, for a take-over during collection: C code cannot
        # be inspected from outside, so the module stuck at import is named in advance.
        collecting = self._dir / "collecting"
        collecting.write_bytes(b"\n" + b" " * (COLLECTING_SIZE - 1))
        with collecting.open("r+b") as fh:
            self._collecting = mmap(fh.fileno(), COLLECTING_SIZE)
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
        pid = os.getpid()
        # argv[0] names it in ps (and for the leaks gate) before it renames itself; the
        # run is known by its pid and start time (the raw field of /proc/PID/stat).
        started = process_tree.start_ticks(pid)
        # `sh -c '. "$0"' WATCHER ...`: the script read from its file, with the arguments
        # where ps and /proc show them for every watcher (STATE in argv[4], the run's pid in
        # argv[5]).
        watcher = [NAME, "-c", '. "$0"', str(WATCHER), str(state), str(pid), str(started)]
        take_over = take_over_command(str(self._dir), pid)
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
            # A test may have closed it already (os.closerange): nothing is left to release.
            with contextlib.suppress(OSError):
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
        return process_tree.is_running(self.pid)

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
        line = nodeid.encode("utf-8", "replace")[: COLLECTING_SIZE - 1] + b"\n"
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
            if not self.alive() or not process_tree.is_running(self.pid):
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
# The supervisors of this process's runs, innermost last: whose stderr the dump signal uses.
_LIVE: list[Supervisor] = []
