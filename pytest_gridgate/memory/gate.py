"""The memory gate's per-session plugin: measuring each test, limits, verdicts.

Imported (and registered) by :mod:`pytest_gridgate.memory` only when ``memory.action``
is not ``off``.
"""

from __future__ import annotations

import gc
import heapq
from collections.abc import Generator
from typing import Any

import pytest

from pytest_gridgate.markers import marked_items
from pytest_gridgate.memory import MARKER, SECTION, TOP
from pytest_gridgate.memory.meter import Measurement, Meter, make_meter
from pytest_gridgate.settings.memory import MemorySettings
from pytest_gridgate.sizes import ByteSize, format_size, parse_size
from pytest_gridgate.teardown_verdict import TeardownVerdict, warn_on_item

__all__ = ["GridgateMemoryWarning", "MemoryGate"]

_WORKEROUTPUT_KEY = "gridgate_memory"


class GridgateMemoryWarning(pytest.PytestWarning):
    """A test went over a memory limit (``memory.action = "warn"``)."""


def _is_memory_marker(mark: pytest.Mark) -> bool:
    return mark.name == MARKER


class MemoryGate:
    def __init__(self, config: pytest.Config, settings: MemorySettings) -> None:
        self.config = config
        self.settings = settings
        self.meter: Meter = make_meter()
        self.meter_name = self.meter.name
        workerinput = getattr(config, "workerinput", None)
        self.process = workerinput["workerid"] if workerinput else "main"
        # Marked tests: their limits, or why the marker is wrong (failed in their setup).
        self.limits: dict[pytest.Item, int] = {}
        self.bad_markers: dict[pytest.Item, str] = {}
        self._item: pytest.Item | None = None
        self._top: list[tuple[int, int, str, int]] = []  # min-heap (peak, seq, nodeid, limit)
        self._seq = 0
        self._process_peak = 0
        self._process_peak_at = "collection"
        self._process_failed = False
        self._first = True
        # The per-test path reads these, not settings: one attribute each.
        # Plain ints: the interpreter compares exact ints faster than a subclass (ByteSize).
        self._limit = int(settings.limit)
        self._retained = int(settings.retained)
        self._process_limit = int(settings.process_limit)
        self._top_floor = -1  # a peak above it enters the top (-1: the top is not full)
        # Merged from the workers on the xdist controller.
        self._worker_top: list[dict[str, Any]] = []
        self._worker_processes: list[dict[str, Any]] = []

    def close(self) -> None:
        self.meter.close()

    # ------------------------------------------------------------------ collection

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # Once per run, not per test: the few marked tests and their limits.
        for item in marked_items(items, _is_memory_marker):
            mark = item.get_closest_marker(MARKER)
            if mark is None:
                continue
            value = mark.args[0] if mark.args else mark.kwargs.get("limit")
            try:
                self.limits[item] = int(parse_size(value))
            except ValueError as exc:
                self.bad_markers[item] = f"gridgate: @pytest.mark.{MARKER}: {exc}"

    # ------------------------------------------------------------------ per test

    # Both ends are pytest_gridgate.per_test's inner bracket (inside the leak check's):
    # before the setup of each test, and as the last plain teardown hook.
    def before_test(self, item: pytest.Item) -> None:
        if self._first:
            # Collection and start-up: the peak before the first reset.
            self._first = False
            self._process_peak = self.meter.peak_since_start()
        elif self._item is not None:
            # The last test's teardown never reached the gate (a finalizer raised): that
            # test goes unmeasured, but not the process's peak during it.
            peak = self.meter.peak_since_start()
            if peak > self._process_peak:
                self._process_peak, self._process_peak_at = peak, self._item.nodeid
        self._item = item
        # Nothing to do here, as a rule: the last test's lap() started this one.
        self.meter.begin()
        if self.bad_markers and item in self.bad_markers:
            pytest.fail(self.bad_markers[item], pytrace=False)

    # After pytest's own teardown hook has run every finalizer. When a finalizer raises,
    # the teardown hooks after it do not run, nor this, and that test (failed in its
    # teardown already) goes unmeasured.
    def after_test(self, item: pytest.Item) -> None:
        if item is not self._item:  # its setup hook never ran: no start
            return
        self._item = None
        m = self.meter.lap()
        # (A pytest node hashes in Python: no lookup at all when no test is marked.)
        limit = self.limits.get(item, self._limit) if self.limits else self._limit
        peak = m.peak
        if peak > self._top_floor:
            self._rank(item.nodeid, peak, limit)
        if m.process_peak > self._process_peak:
            self._process_peak, self._process_peak_at = m.process_peak, item.nodeid
        # Nearly every test ends here. What a test keeps is never more than its peak.
        if not (
            (limit and peak > limit)
            or (self._retained and peak > self._retained)
            or (self._process_limit and m.process_peak > self._process_limit)
        ):
            return
        self._over(item, m, limit)

    def _rank(self, nodeid: str, peak: int, limit: int) -> None:
        top = self._top
        self._seq += 1
        if len(top) < TOP:
            heapq.heappush(top, (peak, self._seq, nodeid, limit))
        else:
            heapq.heapreplace(top, (peak, self._seq, nodeid, limit))
        if len(top) == TOP:
            self._top_floor = top[0][0]

    def _over(self, item: pytest.Item, m: Measurement, limit: int) -> None:
        settings = self.settings
        peak = m.peak
        entries = []
        if limit and peak > limit:
            entries.append(self._entry(item.nodeid, "peak", peak, limit, children=m.children))
        if settings.retained and m.kept > settings.retained:
            # Only now, and only for this test: what the garbage collector can still free
            # is not kept (a reference cycle waiting for the next collection).
            gc.collect()
            kept = self.meter.resident() - m.start
            self.meter.start()  # what the collection freed is not the next test's
            if kept > settings.retained:
                entries.append(self._entry(item.nodeid, "retained", kept, settings.retained))
        over_process = settings.process_limit and m.process_peak > settings.process_limit
        if over_process and not self._process_failed:
            # The test during which the process went over; later ones are not blamed.
            self._process_failed = True
            entries.append(
                self._entry(
                    item.nodeid,
                    "process",
                    m.process_peak,
                    settings.process_limit,
                    process=self.process,
                )
            )
        if entries:
            fail = self.settings.action == "fail"
            text = _describe(entries)
            if not fail:
                warn_on_item(item, GridgateMemoryWarning(text))
            findings = [(SECTION, entry) for entry in entries]
            TeardownVerdict(self.config, item, "memory", findings, text, fail=fail)

    def _entry(self, nodeid: str, kind: str, size: int, limit: int, **extra: Any) -> dict[str, Any]:
        # Plain ints: a ByteSize cannot travel through execnet to the xdist controller.
        return {"nodeid": nodeid, "kind": kind, "bytes": int(size), "limit": int(limit), **extra}

    # ------------------------------------------------------------------ end of the run

    def top_peaks(self) -> list[dict[str, Any]]:
        """The tests with the largest peaks, largest first (this process's, and under
        xdist the workers')."""
        # A test that added nothing measurable is no one's top test.
        own = [
            self._entry(nodeid, "peak", peak, limit)
            for peak, _, nodeid, limit in self._top
            if peak > 0
        ]
        ranked = sorted([*own, *self._worker_top], key=lambda e: -e["bytes"])
        return ranked[:TOP]

    def _own_process_entry(self) -> dict[str, Any]:
        peak, at = self._process_peak, self._process_peak_at
        now = self.meter.peak_since_start()
        controller = _is_xdist_controller(self.config)
        if now > peak:  # since the last test's start, not in a test: the session's end
            peak, at = now, "collection" if self._first and not controller else "session"
        name = "controller" if controller else self.process
        return self._entry(at, "process", peak, self.settings.process_limit, process=name)

    def process_entries(self) -> list[dict[str, Any]]:
        return [self._own_process_entry(), *self._worker_processes]

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[_WORKEROUTPUT_KEY] = {
                "top": self.top_peaks(),
                "process": self._own_process_entry(),
            }
        limit = self.settings.process_limit
        # A process over its limit fails the run even when no test could be failed for it
        # (collection, the controller, the end of the session). Before the yield: the gate
        # report is written by a plain sessionfinish hook and must see the exit status.
        if (
            workeroutput is None
            and limit
            and self.settings.action == "fail"
            and session.exitstatus == 0
            and any(e["bytes"] > limit for e in self.process_entries())
        ):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        yield

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        data = getattr(node, "workeroutput", {}).get(_WORKEROUTPUT_KEY)
        if data:
            self._worker_top.extend(data.get("top", ()))
            if data.get("process"):
                self._worker_processes.append(data["process"])


_WHAT = {
    "peak": "peak memory {size} over the limit {limit}",
    "retained": "{size} still held after teardown (over memory.retained = {limit})",
    "process": "the process ({process}) reached {size}, over memory.process_limit = {limit}",
}


def _describe(entries: list[dict[str, Any]]) -> str:
    lines = ["gridgate: memory over the limit:"]
    for entry in entries:
        text = _WHAT[entry["kind"]].format(
            size=format_size(entry["bytes"]),
            limit=ByteSize(entry["limit"]),
            process=entry.get("process", ""),
        )
        if entry.get("children"):
            text += f" ({format_size(entry['children'])} of it in child processes)"
        lines.append(f"  {entry['kind']}: {text}")
    return "\n".join(lines)


def _is_xdist_controller(config: pytest.Config) -> bool:
    return config.pluginmanager.get_plugin("dsession") is not None
