"""The supervisor: a small process that ends a test stuck in C code holding the GIL.

Neither a signal handler nor a thread of the pytest process can run while C code holds
the GIL (``sum(range(10**12))`` never gives it up), so this runs in a process of its own,
started once per run by ``python -I -S -c "... import main ..."`` (standard library only,
imported from cached bytecode with only the package's empty ``__init__`` before it, so it
starts in a few milliseconds). It polls a shared state file that the pytest process updates
for every test (see :class:`pytest_gridgate.watchdog.Supervisor`): when the armed deadline
passed ``grace`` seconds ago and the watchdog thread has not taken over, it makes
faulthandler dump every thread's stack (a C-level signal handler that needs no GIL), kills
the process tree, and leaves the verdict: a crash record for the xdist controller, or the
gate report itself (from the latest snapshot the pytest process left).
"""

from __future__ import annotations

# Only built-in modules at start: every run pays for this process's start-up. The rest
# (json, the report format) is imported when it has to take over.
import _signal  # type: ignore[import-not-found]  # signal without its enum wrappers (ms)
import _struct  # struct without its Python wrapper module
import mmap
import os
import sys
import time

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds
if TYPE_CHECKING:
    from typing import Any

POLL = 0.2
NAME = "gridgate-watchdog"


def main(argv: list[str]) -> int:
    """``supervisor.py DIRECTORY PARENT_PID GRACE FORMAT``.

    DIRECTORY holds the state file (laid out as the struct FORMAT: generation, deadline,
    handled, stop, index, seconds; see ``watchdog.STATE``), spec.json and the nodeids.
    """
    directory, parent, grace = argv[1], int(argv[2]), float(argv[3])
    state = _struct.Struct(argv[4])
    _set_process_name(NAME)
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)  # Ctrl-C is for pytest to handle
    with open(os.path.join(directory, "state"), "r+b") as fh:
        shared = mmap.mmap(fh.fileno(), state.size)
    while True:
        time.sleep(POLL)
        if os.getppid() != parent:
            return 0
        generation, deadline, handled, stop, index, seconds = state.unpack_from(shared)
        if stop:
            return 0
        if handled or not deadline or time.monotonic() < deadline + grace:
            continue
        time.sleep(POLL)  # still the same test, still stuck?
        if state.unpack_from(shared)[:3] != (generation, deadline, 0):
            continue
        import json

        with open(os.path.join(directory, "spec.json"), encoding="utf-8") as spec_file:
            take_over(json.load(spec_file), parent, index, seconds)
        return 0


def take_over(spec: dict[str, Any], parent: int, index: int, seconds: float) -> None:
    import json

    collecting = index == -2  # watchdog.COLLECTION_INDEX
    try:
        with open(spec["nodeids"], encoding="utf-8") as fh:
            nodeids = fh.read().splitlines()
    except OSError:
        nodeids = []
    nodeid = nodeids[index] if 0 <= index < len(nodeids) else "<unknown test>"
    if collecting:
        nodeid = "collection"
    stderr, stdout = int(spec["stderr"]), int(spec["stdout"])
    _write(
        stderr,
        f"\n+++ gridgate TIMEOUT: {nodeid} is stuck in code that holds the GIL; "
        "dumping every thread's stack and killing the process +++\n",
    )
    _send(parent, int(spec["dump_signal"]))
    time.sleep(0.3)  # faulthandler writes the dump from the signal handler
    killed = []
    for pid in descendants(parent):
        described = f"pid {pid} {_cmdline(pid)!r}"
        if pid != os.getpid() and _send(pid, _signal.SIGKILL):
            killed.append(described)
    entry: dict[str, Any] = {
        "nodeid": nodeid,
        "seconds": seconds,
        "phase": "collection" if collecting else "call",
        "stage": 2,
        "where": "C code holding the GIL (see the stack dump)",
    }
    if killed:
        entry["killed"] = killed
    if spec.get("record"):
        # Before the kill: the xdist controller reads it as soon as it sees the worker go.
        with open(spec["record"], "w", encoding="utf-8") as fh:
            fh.write(json.dumps(entry))
        _send(parent, _signal.SIGKILL)
    else:
        # Report first, kill last: whoever waits for the run (a CI step, a parent pytest)
        # may read the report the moment the process is gone. The process cannot write in
        # the meantime: it is stuck in C code holding the GIL.
        write_report(spec, entry, stdout)
        _send(parent, _signal.SIGKILL)


def write_report(spec: dict[str, Any], entry: dict[str, Any], stdout: int) -> None:
    """The gate report of a process that was killed: its last snapshot plus this verdict,
    rendered as every gate report is (:mod:`pytest_gridgate.report_format`)."""
    import json

    # Run as a script (``python -I supervisor.py``), the package's parent is not on sys.path.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.append(root)
    from pytest_gridgate import report_format

    try:
        with open(spec["snapshot"], encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        data = {"version": 1, "timeouts": [], "gates": []}
    report_format.killed_run(data, entry, 128 + _signal.SIGKILL)  # what the shell sees
    report_format.write_files(data, spec.get("report"), spec.get("summary"), spec["append"])
    _write(stdout, "\n" + "\n".join(report_format.terminal_lines(data)) + "\n")


def descendants(root: int) -> list[int]:
    """Every process below ``root``, children first, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            raw = fh.read()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()[:80]


def _send(pid: int, signum: int) -> bool:
    try:
        os.kill(pid, signum)
    except OSError:
        return False
    return True


def _write(fd: int, text: str) -> None:
    try:  # noqa: SIM105 - contextlib is not imported here, see the imports
        os.write(fd, text.encode("utf-8", "replace"))
    except OSError:
        pass


def _set_process_name(name: str) -> None:
    # /proc/<pid>/comm is what psutil's name() reads (15 characters): the leaks gate
    # ignores processes named gridgate-*.
    try:
        with open("/proc/self/comm", "w") as fh:
            fh.write(name[:15])
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv))
