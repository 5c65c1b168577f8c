"""What the parts of one run's timeouts gate share.

The gate (:class:`~.gate.TimeoutGate`) is a ``TimeoutRun`` with its parts; each part is
handed the run, not the gate, so that no part depends on the module that wires them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from pytest_gridgate import report as gate_report
from pytest_gridgate.config import get_config
from pytest_gridgate.timeouts.budget import SessionBudget
from pytest_gridgate.timeouts.reports import TimedOutReports
from pytest_gridgate.timeouts.watchdog import Armed, Watchdog

#: A snapshot waits for this many times its own CPU time of the run's: its share of the
#: run's CPU time stays under 2 %.
SNAPSHOT_SPACING = 50


class TimeoutRun:
    def __init__(self, config: pytest.Config, on_expire: Callable[[Armed], None]) -> None:
        self.config = config
        self.settings = get_config(config).timeouts
        self.root = config.rootpath
        # Duplicates of the terminal's descriptors (taken in pytest_configure): -1 until then.
        self.stdout_fd = self.stderr_fd = -1
        self.budget: SessionBudget | None = None
        self.controller = False  # the xdist controller: it runs no test
        self.worker_record: str | None = None  # an xdist worker: where to leave its record
        self.reports = TimedOutReports(config)
        self.watchdog = Watchdog(on_expire)
        # Collection timeouts (stage one) waiting for their collector's report.
        self.collection_fired: dict[str, dict[str, Any]] = {}
        # Where the per-test timeout of a test without a marker comes from, for the verdict.
        self.applies = "timeouts.default"
        self.snapshot_at = 0.0
        self.snapshot_next_cpu = 0.0  # process time before which no snapshot is due

    def snapshot(self) -> None:
        """Leave the report as it stands for the supervisor, which writes it if it has to
        kill this process (as tests start: see :meth:`snapshot_due`)."""
        cpu = time.process_time()
        self.snapshot_at = time.monotonic()
        supervisor = self.watchdog.supervisor
        if supervisor is None or self.worker_record is not None:
            return
        supervisor.snapshot(gate_report.snapshot(self.config))
        done = time.process_time()
        self.snapshot_next_cpu = done + SNAPSHOT_SPACING * (done - cpu)

    def snapshot_due(self) -> bool:
        """Whether the run has used enough CPU time since the last snapshot for the next
        (asked at most once a second, as a test starts). A snapshot's cost grows with the
        findings: in pexpect's suite (490 findings, four minutes of mostly waiting) one a
        second was 8 % of the run's CPU time; spaced so, under 2 %."""
        return time.process_time() >= self.snapshot_next_cpu
