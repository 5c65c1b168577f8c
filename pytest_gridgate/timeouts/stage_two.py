"""Stage two: ending a test that stage one could not interrupt.

A test stuck in C code, with SIGALRM blocked, or running outside the main thread ignores
stage one. ``kill_after`` seconds after its timeout, the watchdog thread
(:mod:`.watchdog`) calls :meth:`StageTwo.expired`, which dumps every thread's stack, kills
the test's children, leaves the verdict and ends the process. Against C code that holds
the GIL (no thread of ours can run) the supervisor (:mod:`.supervisor`), started here once
per run, does the same from outside, from the last report snapshot taken here.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import sys
from typing import Any

import pytest
import pytest_timeout  # type: ignore[import-untyped]

from pytest_gridgate import process_tree
from pytest_gridgate import report as gate_report
from pytest_gridgate.frames import awaiting, collector_of, phase_of, thread_frame, where_stuck
from pytest_gridgate.timeouts.collection_clock import COLLECTION, hung_collect_report
from pytest_gridgate.timeouts.defaults import timeout_plugin
from pytest_gridgate.timeouts.reports import SECTION
from pytest_gridgate.timeouts.run import TimeoutRun
from pytest_gridgate.timeouts.state import COLLECTION_INDEX
from pytest_gridgate.timeouts.watchdog import Armed

# The real os._exit, taken when gridgate is imported (before the hard_exit gate wraps it
# for each session): stage two ends the process with it after writing its own report.
_real_exit = os._exit


class StageTwo:
    """Starts the supervisor, and is what the watchdog calls when a deadline passes."""

    def __init__(self, run: TimeoutRun) -> None:
        self.run = run

    def start_supervisor(self, config: pytest.Config) -> None:
        # Started once the terminal's descriptors are known (pytest_configure), before test
        # modules are imported, so that it bounds collection too; never on the xdist
        # controller, which runs no test.
        run = self.run
        settings = run.settings
        if not settings.kill_after or run.controller:
            return
        if not sys.platform.startswith("linux") or config.option.collectonly:
            return
        if not settings.collection and timeout_plugin(config) is None:
            return
        # Imported only here: a run without a supervisor (kill_after = 0, collect-only, the
        # xdist controller) does not pay for the module and mmap at start-up.
        from pytest_gridgate.timeouts.supervisor import Supervisor

        spec = {"record": run.worker_record, **gate_report.output_paths(config)}
        try:
            supervisor = Supervisor(spec, (run.stdout_fd, run.stderr_fd))
        except OSError as exc:  # the run goes on; only C code holding the GIL is unbounded
            write(run.stderr_fd, f"gridgate: no timeouts supervisor: {exc}\n")
            return
        run.watchdog.supervise(supervisor, COLLECTION_INDEX)  # the collection clock may run

    def expired(self, armed: Armed) -> None:
        """Runs in the watchdog thread: the test ignored stage one. End the process."""
        if pytest_timeout.SUPPRESS_TIMEOUT:  # someone is in pdb: never kill a debugger
            return
        run = self.run
        frame = thread_frame(armed.thread_id)
        collecting = armed.nodeid == COLLECTION
        entry: dict[str, Any] = {
            "nodeid": collector_of(frame, COLLECTION) if collecting else armed.nodeid,
            "seconds": armed.seconds,
            "phase": COLLECTION if collecting else phase_of(frame) or "call",
            "stage": 2,
            "where": where_stuck(frame, run.root),
        }
        lines = awaiting(frame, run.root, own_thread=False)
        if lines:
            entry["awaiting"] = lines
        write(
            run.stderr_fd,
            f"\n+++ gridgate TIMEOUT: {armed.nodeid} ran past its {armed.seconds:g}s timeout "
            "and did not stop; dumping every thread's stack and ending the process +++\n",
        )
        faulthandler.dump_traceback(file=run.stderr_fd, all_threads=True)
        supervisor = self.run.watchdog.supervisor
        spare = supervisor.pid if supervisor else None
        try:
            killed = process_tree.kill_tree(os.getpid(), spare=spare).killed
        except OSError:  # out of descriptors: nothing to list, and the process ends anyway
            killed = []
        if killed:
            entry["killed"] = killed
        code = pytest.ExitCode.INTERRUPTED if collecting else pytest.ExitCode.TESTS_FAILED
        try:
            self._leave_record(entry, code)
        finally:
            if supervisor is not None:
                supervisor.stop()
            # The main thread is stuck: no exception can reach it, only ending the process can.
            _real_exit(code)  # not os._exit: hard_exit's wrapper would report again

    def _leave_record(self, entry: dict[str, Any], code: int) -> None:
        """The verdict of a process that is about to end: a crash record under xdist (the
        controller attributes the lost worker to the test), else the gate report itself."""
        run = self.run
        if run.worker_record is not None:
            with open(run.worker_record, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(entry))
            return
        rep = gate_report.get_report(run.config)
        if entry["phase"] == COLLECTION:
            run.collection_fired.pop(entry["nodeid"], None)  # it ignored stage one
            # The stuck module is a collection error; its timeout comes with the report.
            run.config.hook.pytest_collectreport(report=hung_collect_report(entry))
        else:
            rep.add(SECTION, entry)
        rep.exit_code = code
        gate_report.write_emergency(
            run.config, rep, run.stdout_fd, lost_test=entry["phase"] != COLLECTION
        )


def write(fd: int, text: str) -> None:
    """Write to one of the terminal's descriptors, if it is still open."""
    with contextlib.suppress(OSError):
        os.write(fd, text.encode("utf-8", "replace"))
