"""The gate report: one verdict per gate, written to the terminal, JSON and Markdown.

Gates record what they find in two ways, both of which reach the xdist controller:

* per-test findings are attached to the test's ``TestReport`` with :func:`attach`; the
  attribute is serialised with the report, so a worker's findings arrive on the controller;
* run-level findings go straight into the :class:`GateReport` (``get_report(config)``), or
  into it from a ``pytest_gridgate_report`` hook implementation at the end of the run.

Only the controller (or the single process without xdist) writes the report. It does no
work per test: at the end it takes the attached findings and the counts from the terminal
reporter's statistics, which hold every test report, so the counts are pytest's own. A gate
that needs every test report (the shard's durations, the failures' categories) reads them
there too, with :func:`read_test_reports`, rather than in a hook of its own per report.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_gridgate import report_format
from pytest_gridgate.report_format import COUNTS, TERMINAL_DETAILS

# Report attribute carrying per-test findings as [section, entry] pairs (JSON-serialisable).
_ATTR = "gridgate_findings"
_REPORT_KEY = pytest.StashKey["GateReport"]()
# A reader is given the test reports in batches (a list each call): a Python call per
# report would be most of what reading costs a run of passing tests.
TestReportReader = Callable[[list[pytest.TestReport]], object]
# (reader, failed reports only)
_READERS_KEY = pytest.StashKey[list[tuple[TestReportReader, bool]]]()

# Terminal reporter statistics category -> ``counts`` key.
_CATEGORIES = {
    "passed": "passed",
    "failed": "failed",
    "error": "errors",
    "skipped": "skipped",
    "xfailed": "xfailed",
    "xpassed": "xpassed",
}
# Terminal reporter statistics that are not test outcomes (or, for "", not shown).
_NOT_COUNTED = ("", "warnings", "deselected")
# The exit status of a run that passed but whose report or summary could not be written:
# pytest's usage error, since the path given (or $GITHUB_STEP_SUMMARY) is what is wrong.
UNWRITTEN_EXIT_CODE = int(pytest.ExitCode.USAGE_ERROR)


def attach(
    report: pytest.TestReport | pytest.CollectReport, section: str, entry: dict[str, Any]
) -> None:
    """Attach a finding to a test or collect report; it travels to the xdist controller."""
    findings: list[list[Any]] = report.__dict__.setdefault(_ATTR, [])
    findings.append([section, entry])


def attached(
    report: pytest.TestReport | pytest.CollectReport,
) -> Iterator[tuple[str, dict[str, Any]]]:
    for section, entry in report.__dict__.get(_ATTR, ()):
        yield str(section), entry


# Plain classes rather than dataclasses: generating a dataclass's methods costs every run
# start-up time.
class GateVerdict:
    """One gate's verdict: a name, pass or fail, and a one-line summary."""

    def __init__(
        self, gate: str, passed: bool, summary: str, details: list[str] | None = None
    ) -> None:
        self.gate = gate
        self.passed = passed
        self.summary = summary
        self.details = details if details is not None else []

    def __repr__(self) -> str:
        return f"GateVerdict({self.gate!r}, {self.passed!r}, {self.summary!r})"


class GateReport:
    """Everything the gates found in one run (JSON report version 1)."""

    def __init__(self, sections: Iterable[str] = ()) -> None:
        self.counts: dict[str, int] = dict.fromkeys(COUNTS, 0)
        # The report knows no gate by name: the gates declare the sections they always
        # have (``pytest_gridgate_report_sections``) and fill them (``attach``, ``add``).
        self.sections: dict[str, list[dict[str, Any]]] = {name: [] for name in sections}
        # Sections that are one object rather than a list of entries (``shard``).
        self.objects: dict[str, dict[str, Any]] = {}
        self.env: dict[str, list[str]] = {"applied": [], "kept": []}
        self.verdicts: list[GateVerdict] = []
        self.exit_code = 0

    def add(self, section: str, entry: dict[str, Any]) -> None:
        self.sections.setdefault(section, []).append(entry)

    def add_section(self, name: str, data: list[dict[str, Any]] | dict[str, Any]) -> None:
        """Extend the list section ``name``; a dict is an object section, set whole."""
        if isinstance(data, dict):
            self.objects[name] = data
            return
        self.sections.setdefault(name, []).extend(data)

    def add_verdict(
        self, gate: str, passed: bool, summary: str, details: list[str] | None = None
    ) -> None:
        self.verdicts.append(GateVerdict(gate, passed, summary, details or []))

    @property
    def outcome(self) -> str:
        return "passed" if self.exit_code == 0 else "failed"

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "counts": dict(self.counts),
            **self.sections,
            **self.objects,
            "env": self.env,
            "gates": [
                {"gate": v.gate, "passed": v.passed, "summary": v.summary, "details": v.details}
                for v in self.verdicts
            ],
        }

    def terminal_lines(self, max_details: int = TERMINAL_DETAILS) -> list[str]:
        return report_format.terminal_lines(self.to_json(), max_details)


def get_report(config: pytest.Config) -> GateReport:
    """The run's gate report (created on first use)."""
    try:
        return config.stash[_REPORT_KEY]
    except KeyError:
        # Registration order (pluggy calls the last registered first): gridgate's own gates
        # in the order of plugin.GATES, then conftests and other plugins.
        declared = config.hook.pytest_gridgate_report_sections(config=config)
        names = [name for names in reversed(declared) for name in names]
        report = config.stash[_REPORT_KEY] = GateReport(dict.fromkeys(names))
        return report


def read_test_reports(
    config: pytest.Config, reader: TestReportReader, *, failed_only: bool = False
) -> None:
    """``reader(reports)`` with every test report of the run (on the xdist controller,
    every worker's), each once, by the time the gate report is made: at the end, or when
    the timeouts gate takes a snapshot mid-run. Read in batches (a list per call) from
    pytest's terminal reporter, which keeps every report, so a run pays no hook call per
    report; without a terminal reporter (``-p no:terminal``), a list of one as each report
    comes. ``failed_only``: only the reports whose outcome is ``failed`` (a run of passing
    tests calls such a reader with none at all).

    Neither before the report reaches anyone else nor in the order the reports came: a gate
    that must see each report first (to attach to it before an xdist worker sends it) uses
    ``pytest_gridgate.per_test``'s ``each_report``. Nothing is read on an xdist worker.
    """
    config.stash.setdefault(_READERS_KEY, []).append((reader, failed_only))


def terminal_stats(config: pytest.Config) -> dict[str, list[Any]] | None:
    """pytest's terminal reporter's statistics (every report, by category), if there is
    one that keeps them (from the start of the session on; not with ``-p no:terminal``):
    without it, read_test_reports() reads each report as it is logged."""
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    stats = getattr(terminal, "stats", None)
    return stats if isinstance(stats, dict) else None


def output_paths(config: pytest.Config) -> dict[str, Any]:
    """Where this process writes the report: ``report`` (JSON), ``summary`` (Markdown) and
    whether the summary is ``append``ed to; none on an xdist worker."""
    writer = config.pluginmanager.get_plugin("gridgate-report")
    if not isinstance(writer, ReportWriter):
        return {"report": None, "summary": None, "append": False}
    return {
        "report": str(writer.json_path) if writer.json_path else None,
        "summary": str(writer.markdown_path) if writer.markdown_path else None,
        "append": writer.markdown_append,
    }


def snapshot(config: pytest.Config) -> dict[str, Any]:
    """The JSON report as it stands mid-run (see :meth:`ReportWriter.snapshot`)."""
    writer = config.pluginmanager.get_plugin("gridgate-report")
    if not isinstance(writer, ReportWriter):
        return get_report(config).to_json()
    return writer.snapshot()


def write_emergency(
    config: pytest.Config, report: GateReport, terminal_fd: int, *, lost_test: bool
) -> None:
    """Write the report of a run that is about to end abruptly (the timeouts gate's stage
    two, from its watchdog thread): the end-of-run report, less what the end would bring.

    ``lost_test``: the run dies inside a test that will never report; it counts as failed.
    The terminal lines go to ``terminal_fd``, since output capture may own fd 1.
    """
    writer = config.pluginmanager.get_plugin("gridgate-report")
    if not isinstance(writer, ReportWriter):
        return  # an xdist worker: its controller writes the report
    try:
        data = writer.conclude(report.exit_code, lost_test=lost_test)
    except Exception as exc:  # a gate in a half-finished state: the report still goes out
        os.write(terminal_fd, f"gridgate: the gate report is incomplete: {exc!r}\n".encode())
        data = report.to_json()
    writer.write_files(data, exit_code_if_unwritten=None)  # the run ends with its own code
    lines = report_format.terminal_lines(data)
    os.write(terminal_fd, ("\n" + "\n".join(lines) + "\n").encode("utf-8", "replace"))


# --------------------------------------------------------------------------- the plugin


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gridgate")
    group.addoption(
        "--gridgate-report",
        metavar="PATH",
        help="write the JSON gate report (version 1) to PATH (default: none)",
    )
    group.addoption(
        "--gridgate-summary",
        metavar="PATH",
        help="write the Markdown gate summary to PATH "
        "(default: append it to $GITHUB_STEP_SUMMARY when that is set)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # xdist workers send their reports to the controller, which writes the one report.
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(ReportWriter(config), "gridgate-report")


class ReportWriter:
    """Collects findings from every test and collect report; renders the report at the end.

    pytest's terminal reporter keeps every test report (under xdist, every worker's), so
    findings and counts are taken from its statistics once, at the end, and the run pays
    nothing per test. Without a terminal reporter (``-p no:terminal``) a small
    :class:`OwnTally` plugin looks at each report instead.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.report = get_report(config)
        # Resolved now: tests may change the working directory or the environment.
        self.json_path = self._path(config.getoption("gridgate_report"))
        summary = config.getoption("gridgate_summary")
        self.markdown_path = self._path(summary or os.environ.get("GITHUB_STEP_SUMMARY"))
        self.markdown_append = summary is None
        self.own_tally: OwnTally | None = None
        self.session: pytest.Session | None = None
        self.collect_findings: set[tuple[str, object]] = set()
        self.collect_errors = 0
        self.finished = False
        # read_test_reports(): its readers, and how many of each terminal statistics
        # category's entries they have had. Read from the main thread at the end and from
        # the timeouts gate's watchdog thread mid-run (or when it ends the run): one at a
        # time, and each report once.
        self.readers = config.stash.setdefault(_READERS_KEY, [])
        self._read: dict[str, int] = {}
        self._reading = threading.RLock()

    def _path(self, value: str | None) -> Path | None:
        return self.config.invocation_params.dir / value if value else None

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session
        if terminal_stats(self.config) is None:
            self.own_tally = OwnTally(self.report, self.readers)
            self.config.pluginmanager.register(self.own_tally, "gridgate-report-tally")

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # Passed collect reports are not in the terminal's statistics: look at each here
        # (once per collector, not per test). Under xdist every worker collects the whole
        # suite and may report the same collector's failure: its findings count once.
        for section, entry in attached(report):
            key = (section, entry.get("nodeid"))
            if key not in self.collect_findings:
                self.collect_findings.add(key)
                self.report.add(section, entry)
        if report.failed:
            self.collect_errors += 1  # the tests verdict leaves these to the collection gate
        if self.own_tally is not None and not report.passed:
            self.own_tally.count(report)

    def _read_test_reports(self) -> None:
        """Give read_test_reports()'s readers the test reports they have not had yet."""
        stats = terminal_stats(self.config) if self.own_tally is None else None
        if not stats or not self.readers:
            return
        # A bounded wait: the watchdog thread writes an emergency report while the main
        # thread may be stopped anywhere, which can never be inside this (it only runs
        # between tests), but a report is better than a hang.
        if not self._reading.acquire(timeout=5):
            return
        try:
            read = self._read
            batch: list[pytest.TestReport] = []
            # Copies first (one C call each): the main thread may add reports meanwhile.
            for category, reports in list(stats.items()):
                if category in ("warnings", "deselected"):
                    continue
                seen = read.get(category, 0)
                new = reports[seen:]
                read[category] = seen + len(new)
                batch += _test_reports(new)
            if batch:
                _give(self.readers, batch)
        finally:
            self._reading.release()

    def _findings(self, categories: Iterable[str] | None = None) -> list[tuple[str, Any]]:
        """Findings attached to the test reports (of ``categories``), in the order the
        tests ran; none with :class:`OwnTally`, which adds them as they come."""
        stats = terminal_stats(self.config) if self.own_tally is None else None
        if not stats:
            return []
        with_findings = [
            r
            for category in (stats if categories is None else categories)
            for r in _test_reports(stats.get(category, []))
            if _ATTR in r.__dict__
        ]
        with_findings.sort(key=lambda r: float(getattr(r, "start", 0.0)))
        return [finding for r in with_findings for finding in attached(r)]

    def _tally(self) -> tuple[dict[str, int], int]:
        """Reports per category as pytest's summary line counts them, and how many failed
        in categories that other plugins add (a "timeout" category, say)."""
        if self.own_tally is not None:
            return self.own_tally.counts, 0
        counts: dict[str, int] = {}
        failed_elsewhere = 0
        for category, reports in (terminal_stats(self.config) or {}).items():
            if category in _NOT_COUNTED:
                continue
            # As the terminal's summary line: some reports (subtests') do not count.
            shown = _counted(reports)
            counts[category] = len(shown)
            if category not in _CATEGORIES:
                failed_elsewhere += sum(1 for r in shown if getattr(r, "failed", False))
        return counts, failed_elsewhere

    def snapshot(self) -> dict[str, Any]:
        """The report as it stands mid-run, for a process that may be killed (the timeouts
        gate's supervisor; see ``TimeoutRun.snapshot_due``): counts by category,
        findings of every test that did not pass, every gate's verdict so far."""
        copy = GateReport(self.report.sections)
        copy.counts.update(self.report.counts)
        for name, entries in self.report.sections.items():
            copy.add_section(name, entries)
        copy.env = {key: list(names) for key, names in self.report.env.items()}
        self._read_test_reports()
        stats = terminal_stats(self.config) or {}
        for category, reports in stats.items():
            if category not in _NOT_COUNTED:
                copy.counts[_CATEGORIES.get(category, category)] = len(reports)
        if self.session is not None:
            copy.counts["collected"] = self.session.testscollected
        failed = [category for category in stats if category not in ("passed", *_NOT_COUNTED)]
        for section, entry in self._findings(failed):
            copy.add(section, entry)
        # Every gate's verdict so far (the hooks only read their gate's state).
        self.config.hook.pytest_gridgate_report(report=copy, config=self.config)
        return copy.to_json()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # Last, so every gate has set session.exitstatus and added what it found.
        data = self.conclude(int(session.exitstatus))
        problems = self.write_files(data)
        if problems:
            # A report that could not be written is a failed gate (its verdict is in
            # ``data`` now, and the exit status of a run that had passed is 4): CI must not
            # go green without the report it asked for.
            self.report.exit_code = session.exitstatus = data["exit_code"]
            self.report.verdicts = [
                GateVerdict(g["gate"], g["passed"], g["summary"], g["details"])
                for g in data["gates"]
            ]
            if terminal_stats(self.config) is None:  # no terminal section will say it
                sys.stderr.write("".join(f"gridgate: {problem}\n" for problem in problems))
        self.finished = True

    def conclude(self, exit_code: int, *, lost_test: bool = False) -> dict[str, Any]:
        """Counts, every gate's verdict, and the tests verdict: the report as JSON."""
        report = self.report
        report.exit_code = exit_code
        self._read_test_reports()
        for section, entry in self._findings():
            report.add(section, entry)
        tally, failed_elsewhere = self._tally()
        for category, n in tally.items():
            if category not in _NOT_COUNTED:
                report.counts[_CATEGORIES.get(category, category)] = n
        if lost_test:
            report.counts["failed"] += 1
        if not report.counts["collected"] and self.session is not None:
            report.counts["collected"] = self.session.testscollected  # before the gate's
        self.config.hook.pytest_gridgate_report(report=report, config=self.config)
        data = report.to_json()
        report_format.set_tests_verdict(data, failed_elsewhere, self.collect_errors)
        report.verdicts = [
            GateVerdict(g["gate"], g["passed"], g["summary"], g["details"]) for g in data["gates"]
        ]
        return data

    def write_files(
        self, data: dict[str, Any], exit_code_if_unwritten: int | None = UNWRITTEN_EXIT_CODE
    ) -> list[str]:
        """Write the JSON report and the Markdown summary; a line per file that could not
        be written (see :func:`report_format.write_files`)."""
        paths = output_paths(self.config)
        return report_format.write_files(
            data,
            paths["report"],
            paths["summary"],
            paths["append"],
            exit_code_if_unwritten=exit_code_if_unwritten,
        )

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.finished:
            return
        lines = self.report.terminal_lines()
        # Scripts parse ``--co -q`` and ``-qq`` output: there, only a gate that failed for a
        # reason pytest's own output does not show (not the tests gate) gets its lines.
        if self.config.option.collectonly or self.config.get_verbosity() <= -2:
            lines = _failed_gates_only(lines)
            if not lines:
                return
        else:
            terminalreporter.write_sep("=", "gridgate")
        for line in lines:
            failed = line.startswith("FAIL") or line.startswith("gridgate: failed")
            terminalreporter.write_line(line, red=failed, green=line.startswith("PASS"))


# Gates whose failure pytest's own output already shows: the failed tests, and their
# categories (the failures gate fails exactly when tests failed).
_SHOWN_BY_PYTEST = (["tests"], ["failures"])


def _failed_gates_only(lines: list[str]) -> list[str]:
    """The terminal lines of the gates that failed, but the tests and failures gates, with
    their details and the closing line; none when no such gate failed."""
    kept: list[str] = []
    keep = False
    for line in lines[:-1]:
        if not line.startswith("    "):
            keep = line.startswith("FAIL") and line.split()[1:2] not in _SHOWN_BY_PYTEST
        if keep:
            kept.append(line)
    return [*kept, lines[-1]] if kept else []


class OwnTally:
    """Findings and counts per test report, for runs without pytest's terminal reporter."""

    def __init__(self, report: GateReport, readers: list[tuple[TestReportReader, bool]]) -> None:
        self.report = report
        self.readers = readers
        self.counts: dict[str, int] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        _give(self.readers, [report])  # first: what a reader attaches is a finding
        _add_findings(self.report, report)
        self.count(report)

    def count(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        category = _category(report)
        self.counts[category] = self.counts.get(category, 0) + 1


def _classes_all(reports: list[Any], test: Callable[[type], bool]) -> bool:
    """Whether the class of every one of ``reports`` passes ``test``: asked once per class
    (a run's reports are of one or two), not per report, which would be a call in Python
    per report, three a test."""
    return all(map(test, set(map(type, reports))))


def _is_test_report_class(kind: type) -> bool:
    return issubclass(kind, pytest.TestReport)


def _test_reports(reports: list[Any]) -> list[pytest.TestReport]:
    """The test reports among ``reports`` (a category of the terminal's statistics may
    also hold collect reports)."""
    if _classes_all(reports, _is_test_report_class):
        return reports
    return [r for r in reports if isinstance(r, pytest.TestReport)]


# pytest's own count_towards_summary, a property that is always true; subtests' reports
# have one of their own.
_ALWAYS_COUNTED = getattr(pytest.TestReport, "count_towards_summary", None)


def _counts_always(kind: type) -> bool:
    return getattr(kind, "count_towards_summary", _ALWAYS_COUNTED) is _ALWAYS_COUNTED


def _counted(reports: list[Any]) -> list[Any]:
    """The reports the terminal's summary line counts (a report without
    count_towards_summary counts)."""
    if _classes_all(reports, _counts_always):
        return reports
    return [r for r in reports if getattr(r, "count_towards_summary", True)]


def _give(readers: list[tuple[TestReportReader, bool]], batch: list[pytest.TestReport]) -> None:
    """Each reader its reports of ``batch``: all, or the failed ones (if any)."""
    failed = None
    for reader, failed_only in readers:
        if not failed_only:
            reader(batch)
            continue
        if failed is None:
            failed = [report for report in batch if report.outcome == "failed"]
        if failed:
            reader(failed)


def _add_findings(
    gate_report: GateReport, report: pytest.TestReport | pytest.CollectReport
) -> None:
    if _ATTR in report.__dict__:
        for section, entry in attached(report):
            gate_report.add(section, entry)


def _category(report: pytest.TestReport | pytest.CollectReport) -> str:
    """pytest's own status category, for runs without its terminal reporter."""
    if report.when == "collect":
        return "error" if report.failed else "skipped" if report.skipped else ""
    outcome: str = report.outcome
    if outcome not in ("passed", "failed", "skipped"):
        return outcome  # a failed attempt that is run again: "rerun"
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed" if report.passed else "failed"
    if report.failed:
        return "failed" if report.when == "call" else "error"
    if report.skipped:
        return "skipped"
    return "passed" if report.when == "call" else ""
