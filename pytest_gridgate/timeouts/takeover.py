"""The take-over: ends a test stuck in C code that holds the GIL, from outside the process.

Neither a signal handler nor a thread of the pytest process can run while C code holds
the GIL (``sum(range(10**12))`` never gives it up), so stage two needs another process.
The one that waits is a shell loop (``watcher.sh``, started once per run); it starts this
module only when a test's stage two is more than a second overdue, in ``python -I -S``
(standard library only, imported from cached bytecode, see
``supervisor.take_over_command``). It reads the shared state again (see
:mod:`pytest_gridgate.timeouts.state`) and, if the same test is still armed, makes
faulthandler dump every thread's stack (a C-level signal handler that needs no GIL),
kills the process tree, and leaves the verdict: a crash record for the xdist controller,
or the gate report itself (from the latest snapshot the pytest process left).
"""

from __future__ import annotations

# Only built-in modules at start; the rest (json, the report format) once it acts.
import _signal  # type: ignore[import-not-found]  # signal without its enum wrappers (ms)
import os
import time

from pytest_gridgate import process_tree
from pytest_gridgate.timeouts.state import (
    COLLECTION_INDEX,
    NAME,
    read_collecting,
    read_state,
)

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds
if TYPE_CHECKING:
    from typing import Any


def main(argv: list[str]) -> int:
    """``takeover DIRECTORY PARENT_PID GENERATION``: take over if GENERATION is armed;
    GENERATION ``ended``: the run is gone without having stopped the watcher.

    DIRECTORY holds the state file (one line: generation, ticks, seconds, index; see
    ``state.LINE``), spec.json and the nodeids. Exits 0 when the run was ended or is gone
    (the watcher stops), 1 when the state moved on: the test finished meanwhile.
    """
    directory, parent = argv[1], int(argv[2])
    _set_process_name(NAME)
    if argv[3] == "ended":
        ended(directory)
        return 0
    generation = int(argv[3])
    if not process_tree.is_running(parent):  # ended meanwhile: the watcher sees it next
        return 1
    armed = read_state(os.path.join(directory, "state"))
    if armed is None or armed[0] != generation:
        return 1
    spec = _read_spec(directory)
    if spec is None:
        return 1
    take_over(spec, parent, armed[1], armed[2])
    import shutil

    shutil.rmtree(directory, ignore_errors=True)  # its owner, now killed, cannot
    return 0


def ended(directory: str) -> None:
    """The run's process is gone and never stopped its watcher: it did not reach the end
    of its session (``os._exit``, killed from outside, a crash in C code). Write the
    report it could not: its last snapshot, the test it was in, and a failed verdict."""
    spec = _read_spec(directory)
    if spec is None:
        return
    if spec.get("record") or not (spec.get("report") or spec.get("summary")):
        return  # an xdist worker: its controller reports the lost worker; or no files
    from pytest_gridgate import report_format

    data = load_snapshot(spec, {"version": 1, "counts": {}, "gates": []})
    armed = read_state(os.path.join(directory, "state"))
    nodeids = _nodeids(spec)
    if not nodeids:  # still collecting
        where = read_collecting(spec.get("collecting")) or "collection"
        summary = f"the pytest process ended while collecting {where}"
        code = 2
    elif armed is not None and 0 <= armed[1] < len(nodeids):
        where = nodeids[armed[1]]
        summary = f"the pytest process ended in {where}"
        counts = data.setdefault("counts", {})
        counts["failed"] = counts.get("failed", 0) + 1
        code = 1
    else:
        summary = "the pytest process ended between tests, or in one without a timeout"
        code = 1
    details = [
        "it never finished its session: os._exit(), a kill from outside or a crash in C "
        "code; its exit status may well be 0, so this report is the verdict",
        "counts and verdicts are those of its last snapshot (taken as a test started)",
    ]
    data["exit_code"] = code
    data["outcome"] = report_format.outcome(code)
    gates = [g for g in data.get("gates", []) if g.get("gate") != "run"]
    data["gates"] = [
        *gates,
        {"gate": "run", "passed": False, "summary": summary, "details": details},
    ]
    report_format.set_tests_verdict(data)
    report_format.write_files(data, spec.get("report"), spec.get("summary"), spec["append"])
    text = "\n+++ gridgate: " + summary + "; it did not finish its session +++\n"
    text += "\n".join(report_format.terminal_lines(data)) + "\n"
    _write(int(spec["stdout"]), text)


def take_over(spec: dict[str, Any], parent: int, index: int, seconds: float) -> None:
    import json

    collecting = index == COLLECTION_INDEX
    nodeids = _nodeids(spec)
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
    # Not the watcher (our parent), nor this process: the work is not done yet.
    killed = process_tree.kill_tree(parent, spare=os.getppid(), wait=0).killed
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
    from pytest_gridgate import report_format, timeout_report

    data = load_snapshot(spec, {"version": 1, "timeouts": [], "gates": []})
    if entry["phase"] == "collection":
        collection_failed(data, entry)
    timeout_report.killed_run(data, entry, 128 + _signal.SIGKILL)  # what the shell sees
    report_format.write_files(data, spec.get("report"), spec.get("summary"), spec["append"])
    _write(stdout, "\n" + "\n".join(report_format.terminal_lines(data)) + "\n")


def load_snapshot(spec: dict[str, Any], missing: dict[str, Any]) -> dict[str, Any]:
    """The last report snapshot the run left (``spec["snapshot"]``); ``missing`` when it
    left none, or one that cannot be read."""
    import json

    try:
        with open(spec["snapshot"], encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return missing
    return data if isinstance(data, dict) else missing


def _read_spec(directory: str) -> dict[str, Any] | None:
    import json

    try:
        with open(os.path.join(directory, "spec.json"), encoding="utf-8") as spec_file:
            spec = json.load(spec_file)
    except (OSError, ValueError):
        return None
    return spec if isinstance(spec, dict) else None


def _nodeids(spec: dict[str, Any]) -> list[str]:
    """The run's tests in order (empty while it collects)."""
    try:
        with open(spec["nodeids"], encoding="utf-8") as fh:
            return fh.read().splitlines()
    except OSError:
        return []


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
