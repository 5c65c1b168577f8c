"""The supervisor's take-over, directly: a real process starts a real supervisor (the
``watcher.sh`` loop), arms a test and then holds the GIL in C code, so that its own
watchdog thread can never act; the watcher's take-over (``python -I -S``) must dump the
stacks, kill what the process started, leave the verdict, and kill the process. And a
process that ends without stopping its supervisor gets the "ended" report.

No wall-clock thresholds: each scenario waits for the process to end (the outer
``--timeout`` catches a take-over that never comes).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_gridgate import process_tree

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the supervisor runs on Linux only"
)

# A process as the pytest side sets it up, without pytest: a supervisor with a snapshot of
# the report so far, and the watchdog it is told about.
_SUPERVISED = textwrap.dedent(
    """
    import json, os, subprocess, sys
    from pytest_gridgate.timeouts.state import COLLECTION_INDEX
    from pytest_gridgate.timeouts.supervisor import Supervisor
    from pytest_gridgate.timeouts.watchdog import Watchdog

    # A snapshot as the run leaves it: the report so far.
    COUNTS = {"collected": 0, "passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    SNAPSHOT = {"version": 1, "outcome": "passed", "exit_code": 0, "counts": COUNTS,
                "env": {"applied": [], "kept": []}, "gates": [], "timeouts": []}
    spec = json.loads(sys.argv[1])
    supervisor = Supervisor(spec, (os.dup(1), os.dup(2)))  # as the gate: 1, 2 of its own
    dog = Watchdog(lambda armed: None)
    dog.supervise(supervisor, COLLECTION_INDEX)
    """
)

# Two tests of which the second is armed (index 1), a child process it started, and then
# C code that never gives the GIL up (the watchdog thread cannot act).
_STUCK = _SUPERVISED + textwrap.dedent(
    """
    supervisor.set_nodeids(["test_mod.py::test_first", "test_mod.py::test_stuck"])
    supervisor.snapshot(SNAPSHOT | {"counts": {**COUNTS, "collected": 2, "passed": 1}})
    child = subprocess.Popen(["sleep", "600"])
    print(supervisor.pid, child.pid, flush=True)
    dog.arm("test_mod.py::test_stuck", 0.5, 0.5, index=1)
    sum(range(10**15))  # C code holding the GIL, for hours
    """
)

# A run that ends in its first test without stopping its supervisor (os._exit).
_ENDS = _SUPERVISED + textwrap.dedent(
    """
    supervisor.set_nodeids(["test_mod.py::test_first", "test_mod.py::test_second"])
    supervisor.snapshot(SNAPSHOT | {"counts": {**COUNTS, "collected": 2, "passed": 2}})
    dog.arm("test_mod.py::test_first", 600, 600, index=0)
    print(supervisor.pid, flush=True)
    os._exit(0)
    """
)


def _spec(tmp_path: Path, *, record: bool) -> dict[str, Any]:
    if record:  # an xdist worker: the controller reads the record
        return {"record": str(tmp_path / "record.json"), "report": None, "summary": None,
                "append": False}  # fmt: skip
    return {"record": None, "report": str(tmp_path / "report.json"),
            "summary": str(tmp_path / "summary.md"), "append": False}  # fmt: skip


def _run(script: str, spec: dict[str, Any], tmp_path: Path) -> tuple[int, list[int], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", script, json.dumps(spec)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    pids = [int(pid) for pid in proc.stdout.readline().split()]
    out, err = proc.communicate(timeout=240)
    return proc.wait(timeout=60), pids, out + err


def _wait_gone(pid: int) -> None:
    assert process_tree.wait_gone([pid], 120) == [], f"pid {pid} still running"


@pytest.mark.parametrize("record", [False, True], ids=["report", "xdist-record"])
def test_take_over_ends_a_process_stuck_in_c_code(tmp_path: Path, record: bool) -> None:
    status, (watcher, child), output = _run(_STUCK, _spec(tmp_path, record=record), tmp_path)

    assert status == -9, output  # SIGKILL, from the take-over
    assert "gridgate TIMEOUT: test_mod.py::test_stuck is stuck in code that holds the GIL" in (
        output
    )
    assert "most recent call first" in output  # faulthandler's dump of every thread
    _wait_gone(child)  # what the stuck process started dies with it
    _wait_gone(watcher)  # the watcher's work is done
    if record:
        entry = json.loads((tmp_path / "record.json").read_text())
    else:
        report = json.loads((tmp_path / "report.json").read_text())
        assert report["outcome"] == "failed"
        assert report["exit_code"] == 128 + 9
        assert report["counts"]["passed"] == 1  # the snapshot, completed
        assert report["counts"]["failed"] == 1
        [entry] = report["timeouts"]
        [verdict] = [g for g in report["gates"] if g["gate"] == "timeouts"]
        assert not verdict["passed"]
        assert "test_mod.py::test_stuck" in (tmp_path / "summary.md").read_text()
    assert entry["nodeid"] == "test_mod.py::test_stuck"
    assert entry["seconds"] == 0.5
    assert (entry["stage"], entry["phase"]) == (2, "call")
    assert [line.split()[1] for line in entry["killed"]] == [str(child)]
    assert "sleep 600" in entry["killed"][0]


def test_a_run_that_ends_without_stopping_it_gets_the_ended_report(tmp_path: Path) -> None:
    status, (watcher,), output = _run(_ENDS, _spec(tmp_path, record=False), tmp_path)
    assert status == 0  # os._exit(0): the exit status alone would pass the run
    assert "the pytest process ended in test_mod.py::test_first" in output
    _wait_gone(watcher)  # it wrote the report, then ended

    report = json.loads((tmp_path / "report.json").read_text())
    assert report["outcome"] == "failed"
    assert report["exit_code"] == 1
    assert (report["counts"]["passed"], report["counts"]["failed"]) == (2, 1)  # snapshot + test
    [run] = [g for g in report["gates"] if g["gate"] == "run"]
    assert run["summary"] == "the pytest process ended in test_mod.py::test_first"
    assert not run["passed"]
