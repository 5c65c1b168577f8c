"""Under xdist: naming the test (or module) a killed worker was running.

A worker whose stage two ends its process (or whose supervisor kills it) can tell the
controller nothing through execnet: it leaves a record, a small JSON file in a directory
the controller hands every worker. xdist reports the lost worker's test as a crash
(``pytest_handlecrashitem``), to which the controller attaches the record. A worker killed
while collecting runs no test, so no crash item names it: the controller reports the
module that hung as a collection error, once, and the workers xdist starts in its place
skip that module (they would hang on it in turn).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from pytest_gridgate import report as gate_report
from pytest_gridgate.timeout_report import explain_timeout
from pytest_gridgate.timeouts.collection_clock import COLLECTION, hung_collect_report
from pytest_gridgate.timeouts.reports import SECTION

# Handed to xdist workers: where a worker leaves the record of the test it was killed for.
_CRASH_DIR = "_gridgate_timeouts_dir"
# Handed to xdist workers started after others were killed while collecting: the modules
# that hung their import, which the new workers must not import again.
_HUNG_MODULES = "_gridgate_hung_modules"


def worker_record(config: pytest.Config, workerinput: dict[str, Any]) -> str | None:
    """On an xdist worker: where to leave its record (None: the controller reads none),
    and the modules it must not import."""
    hung = workerinput.get(_HUNG_MODULES)
    if hung:
        config.pluginmanager.register(SkipHungModules(hung), "gridgate-hung-modules")
    if _CRASH_DIR not in workerinput:
        return None
    return str(Path(workerinput[_CRASH_DIR]) / f"{workerinput['workerid']}")


class CrashRecords:
    """On the xdist controller (registered as ``gridgate-crash-records``)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.directory = Path(tempfile.mkdtemp(prefix="gridgate-timeouts-"))
        self.hung_modules: list[str] = []  # whose import killed a worker

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def _take(self, gateway_id: object) -> dict[str, Any] | None:
        record = self.directory / str(gateway_id)
        try:
            entry = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # the worker died of something else
        return entry if isinstance(entry, dict) else None

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[_CRASH_DIR] = str(self.directory)
        if self.hung_modules:
            node.workerinput[_HUNG_MODULES] = list(self.hung_modules)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        if error is None:
            return
        entry = self._take(node.gateway.id)
        if entry is None or entry.get("phase") != COLLECTION:
            return  # a test's: pytest_handlecrashitem attaches it to the crash report
        (self.directory / str(node.gateway.id)).unlink()
        if entry["nodeid"] in self.hung_modules:
            return
        self.hung_modules.append(entry["nodeid"])
        self.config.hook.pytest_collectreport(report=hung_collect_report(entry))

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:
        gateway = getattr(getattr(report, "node", None), "gateway", None)
        if gateway is None:
            return
        entry = self._take(gateway.id)
        if entry is None:
            return
        (self.directory / str(gateway.id)).unlink(missing_ok=True)
        if entry.get("nodeid") != crashitem:
            return
        gate_report.attach(report, SECTION, entry)
        report.longrepr = f"{explain_timeout(entry)}\n{report.longrepr}"


class SkipHungModules:
    """On an xdist worker started in place of one killed while importing a module: that
    module is not imported again (the controller reported it as a collection error)."""

    def __init__(self, modules: list[str]) -> None:
        self.modules = frozenset(modules)

    @pytest.hookimpl(tryfirst=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Any:
        if collector.nodeid in self.modules:
            return pytest.CollectReport(collector.nodeid, "passed", None, [])
        return None
