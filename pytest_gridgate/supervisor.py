"""The take-over: ends a test stuck in C code that holds the GIL, from outside the process.

Neither a signal handler nor a thread of the pytest process can run while C code holds
the GIL (``sum(range(10**12))`` never gives it up), so stage two needs another process.
The one that waits is a shell loop (``watchdog.WATCHER``, started once per run); it starts
this module only when a test's stage two is more than a second overdue, by
``python -I -S -c "... import main ..."`` (standard library only, imported from cached
bytecode with only the package's empty ``__init__`` before it). It reads the shared state
again (see :class:`pytest_gridgate.watchdog.Supervisor`) and, if the same test is still
armed, makes faulthandler dump every thread's stack (a C-level signal handler that needs
no GIL), kills the process tree, and leaves the verdict: a crash record for the xdist
controller, or the gate report itself (from the latest snapshot the pytest process left).
"""

from __future__ import annotations

# Only built-in modules at start; the rest (json, the report format) once it acts.
import _signal  # type: ignore[import-not-found]  # signal without its enum wrappers (ms)
import os
import sys
import time

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds
if TYPE_CHECKING:
    from typing import Any

NAME = "gridgate-watchdog"
COLLECTION_INDEX = -2  # watchdog.COLLECTION_INDEX


def main(argv: list[str]) -> int:
    """``supervisor.py DIRECTORY PARENT_PID GENERATION``: take over if GENERATION is armed.

    DIRECTORY holds the state file (one line: generation, ticks, seconds, index; see
    ``watchdog._LINE``), spec.json and the nodeids. Exits 0 when the run was ended or
    is gone (the watcher stops), 1 when the state moved on: the test finished meanwhile.
    """
    directory, parent, generation = argv[1], int(argv[2]), int(argv[3])
    _set_process_name(NAME)
    # The watcher (our parent) was orphaned meanwhile: the run is gone.
    if _parent_of(os.getppid()) != parent:
        return 0
    armed = read_state(os.path.join(directory, "state"))
    if armed is None or armed[0] != generation:
        return 1
    import json

    with open(os.path.join(directory, "spec.json"), encoding="utf-8") as spec_file:
        take_over(json.load(spec_file), parent, armed[1], armed[2])
    import shutil

    shutil.rmtree(directory, ignore_errors=True)  # its owner, now killed, cannot
    return 0


def read_state(path: str) -> tuple[int, int, float] | None:
    """The armed (generation, index, seconds), or None: nothing armed, or unreadable."""
    try:
        with open(path, "rb") as fh:
            generation, ticks, seconds, index = fh.readline().split()
        if int(ticks) == 0:
            return None
        return int(generation), int(index), float(seconds)
    except (OSError, ValueError):
        return None


def take_over(spec: dict[str, Any], parent: int, index: int, seconds: float) -> None:
    import json

    collecting = index == COLLECTION_INDEX
    try:
        with open(spec["nodeids"], encoding="utf-8") as fh:
            nodeids = fh.read().splitlines()
    except OSError:
        nodeids = []
    nodeid = nodeids[index] if 0 <= index < len(nodeids) else "<unknown test>"
    if collecting:
        nodeid = read_collecting(spec.get("collecting")) or "collection"
    stderr, stdout = int(spec["stderr"]), int(spec["stdout"])
    _write(
        stderr,
        f"\n+++ gridgate TIMEOUT: {nodeid} is stuck in code that holds the GIL; "
        "dumping every thread's stack and killing the process +++\n",
    )
    _send(parent, int(spec["dump_signal"]))
    time.sleep(0.3)  # faulthandler writes the dump from the signal handler
    killed = []
    # Not the watcher (our parent), nor this process: the work is not done yet.
    for pid in descendants(parent, spare=os.getppid()):
        described = f"pid {pid} {_cmdline(pid)!r}"
        if _send(pid, _signal.SIGKILL):
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


def read_collecting(path: str | None) -> str:
    """The collector the run was collecting (its nodeid), or "" if unknown."""
    if not path:
        return ""
    try:
        with open(path, "rb") as fh:
            return fh.read().split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    except OSError:
        return ""


def collection_failed(data: dict[str, Any], entry: dict[str, Any]) -> None:
    """A run killed while collecting: its module is a collection error, and the collection
    verdict fails (the snapshot's was judged before the module was reached)."""
    message = (
        f"collection ran past timeouts.collection = {entry['seconds']:g}s in C code "
        "holding the GIL; the run was killed"
    )
    errors = data.setdefault("collection_errors", [])
    if all(e.get("nodeid") != entry["nodeid"] for e in errors):
        errors.append({"nodeid": entry["nodeid"], "message": message})
    n = len(errors)
    verdict = {
        "gate": "collection",
        "passed": False,
        "summary": f"{n} collection error{'s' if n != 1 else ''}; collection did not finish",
        "details": [f"{e['nodeid']}: {e['message']}" for e in errors],
    }
    gates = data.setdefault("gates", [])
    names = [g.get("gate") for g in gates]
    if "collection" in names:
        gates[names.index("collection")] = verdict
    else:
        gates.insert(0, verdict)


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
    if entry["phase"] == "collection":
        collection_failed(data, entry)
    report_format.killed_run(data, entry, 128 + _signal.SIGKILL)  # what the shell sees
    report_format.write_files(data, spec.get("report"), spec.get("summary"), spec["append"])
    _write(stdout, "\n" + "\n".join(report_format.terminal_lines(data)) + "\n")


def descendants(root: int, spare: int) -> list[int]:
    """Every process below ``root``, children first, read from /proc; not ``spare`` nor
    anything below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            ppid = _parent_of(int(entry))
            if ppid is not None:
                children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child != spare:
                found.append(child)
                todo.append(child)
    return found


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    return int(stat.rsplit(")", 1)[1].split()[1])


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
