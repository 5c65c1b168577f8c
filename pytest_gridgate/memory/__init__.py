"""The memory gate: per-test peak and retained memory, and each pytest process's peak.

Every test is measured from its setup to the end of its teardown (fixtures included) by
:mod:`pytest_gridgate.memory.meter`; the per-session plugin that does it,
:class:`~pytest_gridgate.memory.gate.MemoryGate`, is imported and registered only when
``memory.action`` is not ``off``. A test over its limit (``memory.limit``, or its
``gridgate_memory`` marker) fails with an error in its teardown, like a leak, and the run
goes on; nothing is ever killed. Findings are attached to the teardown report (so they
reach the xdist controller); the top tests by peak and each process's peak travel in the
workers' ``workeroutput``. This module is the gate as pytest sees it: options, marker,
verdict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_gridgate.config import get_config
from pytest_gridgate.per_test import per_test
from pytest_gridgate.sizes import ByteSize, format_size

if TYPE_CHECKING:
    from pytest_gridgate.memory.gate import MemoryGate
    from pytest_gridgate.report import GateReport

SECTION = "memory"
MARKER = "gridgate_memory"
TOP = 10
_GATE_KEY: pytest.StashKey[MemoryGate] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gridgate")
    group.addoption(
        "--gridgate-memory",
        choices=("off", "warn", "fail"),
        help="what a test over its memory limit does: off, warn or fail (config: "
        "memory.action, env: GRIDGATE_MEMORY_ACTION; default: fail)",
    )
    group.addoption(
        "--gridgate-memory-limit",
        metavar="SIZE",
        help="peak memory a test may add, e.g. 512MB, 2GiB, 0 = no limit (config: "
        "memory.limit, env: GRIDGATE_MEMORY_LIMIT; default: 1 GiB)",
    )


def pytest_gridgate_report_sections(config: pytest.Config) -> list[str]:
    return [SECTION]  # in every report, empty when no test was over a limit


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(limit): the peak memory this test may add (setup to teardown, child "
        "processes included), a size like '512MB' or '2GiB', or bytes; 0 exempts the test",
    )
    settings = get_config(config).memory
    if settings.action == "off":
        return
    from pytest_gridgate.memory.gate import MemoryGate

    gate = MemoryGate(config, settings)
    config.stash[_GATE_KEY] = gate
    config.pluginmanager.register(gate, "gridgate-memory")
    per_test(config).around(gate.before_test, gate.after_test)


def pytest_unconfigure(config: pytest.Config) -> None:
    gate = config.stash.get(_GATE_KEY, None)
    if gate is not None:
        config.pluginmanager.unregister(gate)
        gate.close()
        del config.stash[_GATE_KEY]


def _over(entry: dict[str, Any]) -> bool:
    return bool(entry.get("limit")) and entry["bytes"] > entry["limit"]


def _line(entry: dict[str, Any]) -> str:
    limit = f" > {ByteSize(entry['limit'])}" if _over(entry) else ""
    where = f" ({entry['process']})" if entry.get("process") else ""
    return f"{entry['nodeid']}: {entry['kind']}{where} {format_size(entry['bytes'])}{limit}"


def pytest_gridgate_report(report: GateReport, config: pytest.Config) -> None:
    settings = get_config(config).memory
    gate = config.stash.get(_GATE_KEY, None)
    if settings.action == "off" or gate is None:
        report.add_verdict(SECTION, True, "memory gate off")
        return
    # Only reads the gate's state: this hook also renders mid-run snapshots.
    found = report.sections.get(SECTION, [])
    seen = {(e["nodeid"], e["kind"]) for e in found}
    top = gate.top_peaks()
    report.add_section(SECTION, [e for e in top if (e["nodeid"], e["kind"]) not in seen])
    processes = gate.process_entries()
    report.add_section(SECTION, [e for e in processes if (e["nodeid"], e["kind"]) not in seen])
    over = [e for e in report.sections.get(SECTION, []) if _over(e)]
    # A process over its limit at the moment of a test was already failed with it; the
    # one still over at the end (the whole run's peak) is counted once per process.
    failures = list({(e["nodeid"], e["kind"], e.get("process")): e for e in over}.values())
    details = [_line(e) for e in failures]
    if top:
        details.append(
            f"top {len(top)} tests by peak ({gate.meter_name}):\n"
            + "\n".join(f"  {_line(e)}" for e in top)
        )
    biggest = max(processes, key=lambda e: e["bytes"], default=None)
    largest = (
        f"largest process {format_size(biggest['bytes'])} ({biggest['process']})"
        if biggest
        else "no process measured"
    )
    if failures:
        summary = f"{len(failures)} over the limit; {largest}" + (
            " (warn only)" if settings.action == "warn" else ""
        )
    else:
        peak = (
            f"largest test peak {format_size(top[0]['bytes'])}"
            if top
            else "no test added measurable memory"
        )
        summary = f"{peak}; {largest}"
    report.add_verdict(SECTION, not failures or settings.action == "warn", summary, details)
