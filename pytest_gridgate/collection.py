"""The collection gate: a run whose collection is incomplete fails with exit 2.

pytest already stops with exit 2 on a collection error, but not always:

* under pytest-xdist the workers report collection errors, the controller runs the
  remaining tests and exits 1;
* ``--continue-on-collection-errors`` runs the remaining tests and exits 1;
* a module calling ``sys.exit()`` at import time escapes collection as ``SystemExit``:
  INTERNALERROR, exit 3, every other test lost (under xdist, a crashed worker);
* no tests at all is exit 5, which CI scripts often tolerate.

This plugin turns ``SystemExit`` during collection into an ordinary collection error (in
every process, workers included), and on the controller (or the only process) lists the
collection errors in the gate report and sets the exit status to 2 when any occurred or
fewer than ``collection.min_tests`` tests were collected.

``min_tests`` counts tests as collected *before* deselection (``-k``, ``-m``,
``--deselect``): the gate is about the suite being found, not about the selection. A
selection that leaves nothing to run is still a failure (pytest's exit 5 becomes 2) unless
``min_tests = 0``.
"""

from __future__ import annotations

import traceback
from collections.abc import Generator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from pytest_gridgate.config import get_config
from pytest_gridgate.report import GateReport, get_report

# Exit statuses the gate may replace with 2: a run that "passed", failed tests, or found no
# tests. Interrupted (2), internal errors (3) and usage errors (4) stay what they are.
_REPLACEABLE = (
    pytest.ExitCode.OK,
    pytest.ExitCode.TESTS_FAILED,
    pytest.ExitCode.NO_TESTS_COLLECTED,
)
# xdist worker -> controller: what the worker collected, before and after deselection.
_WORKER_OUTPUT = "gridgate_collection"
SECTION = "collection_errors"


# --------------------------------------------------------------------------- every process


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    try:
        return (yield)
    except SystemExit as exc:
        # pytest re-raises SystemExit from collection on purpose (it usually means "stop");
        # only one raised while importing a module (a ``<module>`` frame) is converted.
        if not _raised_at_import(exc.__traceback__):
            raise
        return _exit_at_import_report(collector, exc)
    except KeyboardInterrupt as exc:
        if not _raised_at_import(exc.__traceback__):
            raise
        report = _exit_at_import_report(collector, exc)
        if hasattr(collector.config, "workerinput"):
            # An xdist worker's interruption is a crash to its controller, which would
            # restart it to be interrupted again, and take the items collected so far for
            # the whole suite. A Ctrl-C reaches the controller too (one process group),
            # so here it is a module's collection error like any other.
            return report
        # Alone, pytest stops as for a Ctrl-C (which may well be one): the gate names the
        # module where collection ended.
        collector.config.stash[_INTERRUPTED_KEY] = report
        raise


def _raised_at_import(tb: TracebackType | None) -> bool:
    return any(frame.f_code.co_name == "<module>" for frame, _ in traceback.walk_tb(tb))


def _exit_at_import_report(
    collector: pytest.Collector, exc: SystemExit | KeyboardInterrupt
) -> pytest.CollectReport:
    root = collector.config.rootpath
    frames = traceback.extract_tb(exc.__traceback__)
    # The outermost module-level frame is the module being imported: the test module, or
    # a conftest.py when a directory is collected. Show the frames from there on.
    first = next((i for i, f in enumerate(frames) if f.name == "<module>"), 0)
    where = _relative(Path(frames[first].filename), root)
    if isinstance(exc, SystemExit):
        message = f"SystemExit({exc.code!r}) at import of {where}"
        lines = [f"{message}: a module must not exit the interpreter while being collected."]
    else:
        message = f"{type(exc).__name__} at import of {where}"
        lines = [f"{message}: collection was interrupted there."]
    lines.append("Traceback:")
    for frame in frames[first:]:
        if "importlib" in frame.filename and "_bootstrap" in frame.filename:
            continue
        lines.append(f"{_relative(Path(frame.filename), root)}:{frame.lineno}: in {frame.name}")
        if frame.line:
            lines.append(f"    {frame.line}")
    lines.append(f"E   {message}")
    return pytest.CollectReport(collector.nodeid, "failed", "\n".join(lines), [])


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def short_message(report: pytest.CollectReport) -> str:
    """A collection error's reason in one line: the exception, not the traceback."""
    crash: Any = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and crash.message:
        return str(crash.message).splitlines()[0]
    lines = [line.strip() for line in str(report.longrepr).splitlines() if line.strip()]
    if not lines:
        return "collection error"
    return lines[-1].removeprefix("E").strip()


def pytest_gridgate_report_sections(config: pytest.Config) -> list[str]:
    return [SECTION]  # in every report, empty when nothing failed to collect


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        config.pluginmanager.register(WorkerCollection(config), "gridgate-collection")
    else:
        config.pluginmanager.register(CollectionGate(config), "gridgate-collection")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> Generator[None, None, None]:
    # Outermost wrapper: ``items`` before any plugin deselects, and after all of them.
    collected = len(items)
    yield
    config.stash[_COUNTS_KEY] = CollectedCounts(collected, len(items))


class CollectedCounts:
    # Plain classes here and below: a dataclass's generated methods cost start-up time.
    def __init__(self, collected: int, selected: int) -> None:
        self.collected = collected
        self.selected = selected


_COUNTS_KEY = pytest.StashKey[CollectedCounts]()
# The collect report of a module whose import raised KeyboardInterrupt (without xdist).
_INTERRUPTED_KEY = pytest.StashKey[pytest.CollectReport]()


class WorkerCollection:
    """On an xdist worker: hand the collected counts to the controller."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        counts = self.config.stash.get(_COUNTS_KEY, None)
        if counts is not None:
            output: dict[str, Any] = self.config.workeroutput  # type: ignore[attr-defined]
            output[_WORKER_OUTPUT] = [counts.collected, counts.selected]


# --------------------------------------------------------------------------- the gate


class CollectionGate:
    """On the controller or the only process: judge the collection, set the exit status."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.errors: dict[str, str] = {}  # nodeid -> short message
        self.worker_counts: list[CollectedCounts] = []
        self.problems: list[str] = []
        self.judged = False

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # Under xdist these arrive from every worker; each error is listed once.
        if report.failed and report.nodeid not in self.errors:
            self.errors[report.nodeid] = short_message(report)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        output = getattr(node, "workeroutput", None) or {}
        if _WORKER_OUTPUT in output:
            self.worker_counts.append(CollectedCounts(*output[_WORKER_OUTPUT]))

    def counts(self, session: pytest.Session) -> CollectedCounts:
        if self.worker_counts:
            # Every worker collects the whole suite; the largest count survived a crash best.
            return max(self.worker_counts, key=lambda c: c.collected)
        local = self.config.stash.get(_COUNTS_KEY, None)
        if local is not None:
            return local
        return CollectedCounts(session.testscollected, session.testscollected)

    def _judge(self, report: GateReport, counts: CollectedCounts) -> list[str]:
        """Record the collection in ``report``; the problems found."""
        min_tests = get_config(self.config).collection.min_tests
        report.counts["collected"] = counts.collected
        report.counts["deselected"] = counts.collected - counts.selected
        report.add_section(
            SECTION,
            [{"nodeid": nodeid, "message": message} for nodeid, message in self.errors.items()],
        )
        problems = []
        if self.errors:
            n = len(self.errors)
            problems.append(f"{n} collection error{'s' if n != 1 else ''}")
        interrupted = self.config.stash.get(_INTERRUPTED_KEY, None)
        if interrupted is not None:
            # The count is of the modules before it: no verdict on the suite's size.
            problems.append(f"collection interrupted at {interrupted.nodeid}")
        elif counts.collected < min_tests:
            problems.append(
                f"{counts.collected} test{'s' if counts.collected != 1 else ''} collected, "
                f"fewer than collection.min_tests = {min_tests}"
            )
        return problems

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        interrupted = self.config.stash.get(_INTERRUPTED_KEY, None)
        if interrupted is not None:  # never reached pytest_collectreport
            self.pytest_collectreport(interrupted)
        counts = self.counts(session)
        self.problems = self._judge(get_report(self.config), counts)
        min_tests = get_config(self.config).collection.min_tests
        if (
            0 < min_tests <= counts.collected
            and counts.selected == 0
            and session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED
        ):
            self.problems.append(
                f"no tests selected to run ({counts.collected - counts.selected} deselected)"
            )
        if self.problems and session.exitstatus in _REPLACEABLE:
            session.exitstatus = pytest.ExitCode.INTERRUPTED
        self.judged = True

    def pytest_gridgate_report(self, report: GateReport, config: pytest.Config) -> None:
        problems = self.problems
        if not self.judged:
            # A report made before the run ends (a snapshot, the timeouts gate's stage
            # two): judge what has been collected so far.
            local = self.config.stash.get(_COUNTS_KEY, None)
            collected = report.counts["collected"]
            problems = self._judge(report, local or CollectedCounts(collected, collected))
        collected = report.counts["collected"]
        if problems:
            details = [f"{nodeid}: {message}" for nodeid, message in self.errors.items()]
            report.add_verdict("collection", False, "; ".join(problems), details)
            return
        summary = f"{collected} test{'s' if collected != 1 else ''} collected"
        if report.counts.get("deselected"):
            summary += f", {report.counts['deselected']} deselected"
        report.add_verdict("collection", True, summary)
