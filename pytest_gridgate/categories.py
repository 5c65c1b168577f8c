"""Failure categories: what the exception of a failed phase says, and the categoriser.

Shared by the failures gate (which registers :class:`FailureCategories` in every process
and gives the verdict), the flaky gate (which decides on a rerun by category) and the
quarantine gate (which records a quarantined failure's category), so that none of them
imports another. See docs/failures.md for how each category is decided.

The exception is looked at where it was raised, in the process that ran the test. In a
single process and on the xdist controller, pytest hands it over with the report in
``pytest_exception_interact`` (called only for a phase that raised unexpectedly, once the
report is logged): a passing test costs nothing. A failed report without one (a strict
xpass; on the controller, a worker that died: ``crash``) gets its entry when the gate
report reads the test reports (:func:`pytest_gridgate.report.read_test_reports`).

Where a report must carry its entry when it is logged (:meth:`FailureCategories.as_raised`:
an xdist worker, which sends it to the controller then; gridgate's reruns, quarantine and
pytest-rerunfailures, which decide on it then), a plain ``pytest_runtest_makereport``
implementation notes each exception (a passing phase costs one attribute test) and the
first ``pytest_runtest_logreport`` hook (:mod:`pytest_gridgate.per_test`'s, which calls
``on_report``) attaches the entry. What other gates found on the same report decides
first: a timeout (the timeouts gate's entry, or pytest-timeout's message), a memory limit,
a leak that failed the teardown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import pytest

from pytest_gridgate.config import get_config
from pytest_gridgate.per_test import per_test
from pytest_gridgate.report import attach, attached, read_test_reports, terminal_stats
from pytest_gridgate.sizes import format_size

SECTION = "failures"
PLUGIN_KEY = pytest.StashKey["FailureCategories"]()
RAISED_PLUGIN = "gridgate-failures-raised"  # the as-raised notes' plugin name
# pytest-timeout's failure message (its PYTEST_FAILURE_MESSAGE), which the timeouts gate's
# stage one raises too.
_TIMEOUT_MESSAGE = re.compile(r"^Timeout \(>[0-9.e+]+s\) from pytest-timeout")
# The exception line of a collect report's text, for collection errors (no exception
# object reaches pytest_collectreport).
_WORKER_HEADER = re.compile(r"^\[gw\d+\] ")
_COLLECT_EXCEPTION = re.compile(r"^E\s+([A-Za-z_][\w.]*)(?::|$)", re.MULTILINE)


class Failure:
    """What the exception of one failed phase says: its category and how it reads."""

    __slots__ = ("category", "exception", "message")

    def __init__(self, category: str, exception: str, message: str) -> None:
        self.category = category
        self.exception = exception
        self.message = message


def type_name(cls: type[BaseException]) -> str:
    """``ValueError``, ``socket.gaierror``, ``mypkg.errors.Refused``; pytest's own
    outcomes (``Failed``) without their private module."""
    module = cls.__module__
    if module == "builtins" or module.startswith("_pytest"):
        return cls.__qualname__
    return f"{module.removeprefix('_')}.{cls.__qualname__}"


def first_line(text: str, limit: int = 300) -> str:
    line = text.strip().split("\n", 1)[0].strip()
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _chain(exc: BaseException) -> Iterable[BaseException]:
    """The exception and those it was raised from or during, each once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_infra(exc: BaseException, patterns: Sequence[re.Pattern[str]]) -> bool:
    """Whether a pattern matches ``Type: message`` of the exception, of any class it
    derives from, or of any exception in its chain (a client library's ``ConnectError``
    raised from ``ConnectionRefusedError``)."""
    if not patterns:
        return False
    for link in _chain(exc):
        message = str(link)
        for cls in type(link).__mro__:
            if cls in (BaseException, Exception, object):
                break
            subject = f"{type_name(cls)}: {message}"
            if any(p.search(subject) for p in patterns):
                return True
    return False


def describe(
    excinfo: pytest.ExceptionInfo[BaseException],
    when: str,
    patterns: Sequence[re.Pattern[str]],
) -> Failure:
    """The category of a phase that raised, from the exception alone."""
    exc = excinfo.value
    message = first_line(str(getattr(exc, "msg", None) or exc))
    name = type_name(type(exc))
    if isinstance(exc, pytest.fail.Exception) and _TIMEOUT_MESSAGE.match(message):
        return Failure("timeout", name, message)
    if is_infra(exc, patterns):
        return Failure("infra", name, message)
    if when in ("setup", "teardown"):
        return Failure(when, name, message)
    if isinstance(exc, (AssertionError, pytest.fail.Exception)):
        return Failure("assertion", name, message)
    return Failure("exception", name, message)


def _longrepr_line(report: pytest.TestReport | pytest.CollectReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return first_line(str(crash.message))
    # xdist's report of a dead worker starts with the worker's platform line.
    lines = [line for line in report.longreprtext.splitlines() if line.strip()]
    said = [line for line in lines if not _WORKER_HEADER.match(line)]
    return first_line((said or lines or [""])[0])


def _finding_line(category: str, findings: dict[str, dict[str, Any]]) -> str:
    """What another gate's own entry says, for a failure it made without an exception."""
    entry = findings.get(category)
    if entry is None:
        return ""
    if category == "leaks":
        return first_line(f"{entry.get('kind', '')}: {entry.get('detail', '')}")
    if category == "memory":
        size, limit = format_size(int(entry["bytes"])), format_size(int(entry["limit"]))
        return f"{entry['kind']} {size} over the limit {limit}"
    if category == "timeouts":
        stage = ", did not stop: process ended" if entry.get("stage") == 2 else ""
        return f"Timeout (>{entry.get('seconds', 0):g}s){stage}"
    return ""


def entry_for(report: pytest.TestReport, found: Failure | None) -> dict[str, Any]:
    """The ``failures`` entry of a failed test report; ``found``: what its exception said,
    if it had one in this process."""
    findings: dict[str, dict[str, Any]] = {}
    for section, finding in attached(report):
        findings.setdefault(section, finding)
    category = found.category if found else ""
    exception = found.exception if found else ""
    message = found.message if found else ""
    if "timeouts" in findings:
        category = "timeout"
        message = message or _finding_line("timeouts", findings)
    elif found is None and "memory" in findings:
        category = "memory"
        message = _finding_line("memory", findings)
    elif found is None and "leaks" in findings and report.when == "teardown":
        category = "leak"
        message = _finding_line("leaks", findings)
    elif found is None and str(report.when) == "???":
        # xdist's report for a test whose worker died while running it.
        category = "crash"
    elif not category:
        category = report.when if report.when in ("setup", "teardown") else "exception"
    return {
        "nodeid": report.nodeid,
        "when": report.when if report.when in ("setup", "call", "teardown") else "call",
        "category": category,
        "exception": exception,
        "message": message or _longrepr_line(report),
    }


def has_entry(report: pytest.TestReport | pytest.CollectReport) -> bool:
    return any(section == SECTION for section, _ in attached(report))


class FailureCategories:
    """Per process: the category of each failed phase, attached to its report (at the end,
    or as raised: see the module's docstring)."""

    def __init__(self, config: pytest.Config, patterns: Sequence[re.Pattern[str]]) -> None:
        self.config = config
        self.patterns = patterns
        self.pending: dict[tuple[str, str], Failure] = {}
        self.raised = False

    def as_raised(self) -> None:
        """Note each exception as it is raised and attach each failed report's entry as it
        is logged, from now on in this process."""
        if not self.raised:
            self.raised = True
            self.config.pluginmanager.register(_RaisedExceptions(self), RAISED_PLUGIN)
            per_test(self.config).each_report(self.on_report)

    def pytest_sessionstart(self) -> None:
        # Without pytest's terminal reporter the reports are read as they are logged,
        # before pytest_exception_interact.
        if terminal_stats(self.config) is None:
            self.as_raised()

    def pytest_exception_interact(
        self, node: pytest.Item | pytest.Collector, call: pytest.CallInfo[Any], report: Any
    ) -> None:
        # As raised, the entry is on the report already, or a gate decides on it (one that
        # reruns a failed attempt takes the attempt's findings off its report).
        excinfo = call.excinfo
        if (
            not self.raised
            and excinfo is not None
            and isinstance(report, pytest.TestReport)
            and report.outcome == "failed"
            and not has_entry(report)
        ):
            failure = describe(excinfo, report.when, self.patterns)
            attach(report, SECTION, entry_for(report, failure))

    def take(self, report: pytest.TestReport) -> Failure | None:
        """What the exception of the phase that made ``report`` said (once)."""
        return self.pending.pop((report.nodeid, report.when), None)

    def entry(self, report: pytest.TestReport) -> dict[str, Any]:
        return entry_for(report, self.take(report))

    # Called by pytest_gridgate.per_test's first pytest_runtest_logreport hook: before
    # xdist sends the report to the controller.
    def on_report(self, report: pytest.TestReport) -> None:
        # ``outcome`` rather than the ``failed`` property (a Python call): three reports a
        # test.
        if report.outcome == "failed":
            if not has_entry(report):
                attach(report, SECTION, self.entry(report))
        elif self.pending:
            self.take(report)  # an xfail, or a phase another plugin turned around

    # Called with every failed test report by the time the gate report is made
    # (read_test_reports): a failed report that pytest_exception_interact did not see.
    # (As raised, the exceptions of phases that did not end failed stay noted: a few short
    # strings each.)
    def on_failed_reports(self, reports: list[pytest.TestReport]) -> None:
        for report in reports:
            if not has_entry(report):
                attach(report, SECTION, self.entry(report))

    @pytest.hookimpl(tryfirst=True)
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and not has_entry(report):
            text = report.longreprtext
            found = _COLLECT_EXCEPTION.findall(text)
            entry = {
                "nodeid": report.nodeid,
                "when": "collect",
                "category": "collection",
                "exception": found[-1] if found else "",
                "message": first_line(_last_e_line(text) if found else text),
            }
            attach(report, SECTION, entry)


class _RaisedExceptions:
    """Notes the exception of each phase that raised, for :meth:`FailureCategories.on_report`."""

    def __init__(self, categories: FailureCategories) -> None:
        self.pending = categories.pending
        self.patterns = categories.patterns

    # A plain implementation returning None: pytest's own makes the report. Cheaper per
    # test than a wrapper, and the exception is here, not in the report.
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> None:
        excinfo = call.excinfo
        if excinfo is not None and not isinstance(excinfo.value, pytest.skip.Exception):
            self.pending[item.nodeid, call.when] = describe(excinfo, call.when, self.patterns)


def _last_e_line(text: str) -> str:
    lines = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    return lines[-1] if lines else text


def compile_patterns(config: pytest.Config) -> list[re.Pattern[str]]:
    settings = get_config(config)
    compiled = []
    for index, pattern in enumerate(settings.failures.infra):
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            source = settings.source.name if settings.source else "configuration"
            raise pytest.UsageError(
                f"gridgate: {source}: failures.infra[{index}]: not a regular expression: {exc}"
            ) from None
    return compiled


def register(config: pytest.Config) -> FailureCategories:
    """Make this process's categoriser and register it (the failures gate does; the flaky
    gate, when the failures gate is blocked): its hooks, and ``on_failed_reports`` for
    every failed test report."""
    categoriser = FailureCategories(config, compile_patterns(config))
    config.stash[PLUGIN_KEY] = categoriser
    config.pluginmanager.register(categoriser, "gridgate-failures")
    read_test_reports(config, categoriser.on_failed_reports, failed_only=True)
    # pytest-rerunfailures turns a failed attempt's report into a rerun as it logs it.
    if hasattr(config, "workerinput") or config.pluginmanager.has_plugin("rerunfailures"):
        categoriser.as_raised()
    return categoriser


def plugin(config: pytest.Config) -> FailureCategories | None:
    """This process's categoriser (the flaky and quarantine gates ask it)."""
    return config.stash.get(PLUGIN_KEY, None)
