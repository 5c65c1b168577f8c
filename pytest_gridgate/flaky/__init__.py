"""The flaky gate: reruns that hide nothing, and new tests that must prove themselves.

``flaky.reruns`` runs a failed test again (up to N more times) when its failure's category
is in ``flaky.rerun_categories``; ``flaky.new_test_runs`` runs every test that has no
history (see :mod:`pytest_gridgate.flaky.known`) K times, within ``flaky.new_test_budget``
seconds. A test that failed and then passed is flaky: pytest counts it as passed, the
``flaky`` section lists every attempt, the JUnit file has its ``<flakyFailure>``s, and the
gate fails when flaky tests are more than ``flaky.max_rate`` of the tests run, or when
there is any with ``flaky.action = "fail"`` (the run then exits 1).

The attempts themselves are run by :mod:`pytest_gridgate.flaky.reruns`, registered only
when reruns or repeats are on; this module is the gate as pytest sees it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_gridgate import categories
from pytest_gridgate.config import get_config
from pytest_gridgate.report import attached

if TYPE_CHECKING:
    from pytest_gridgate.report import GateReport
    from pytest_gridgate.settings.flaky import FlakySettings

SECTION = "flaky"
NEW_SECTION = "new_tests"
_TALLY_KEY = pytest.StashKey["FlakyTally"]()
_RERUNS_KEY = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gridgate")
    group.addoption(
        "--gridgate-reruns",
        type=int,
        metavar="N",
        help="run a failed test up to N more times; one that then passes is flaky "
        "(config: flaky.reruns, env: GRIDGATE_FLAKY_RERUNS; default: 0)",
    )
    group.addoption(
        "--gridgate-new-test-runs",
        type=int,
        metavar="K",
        help="run each test missing from the known tests K times (config: "
        "flaky.new_test_runs, env: GRIDGATE_FLAKY_NEW_TEST_RUNS; default: 0)",
    )
    group.addoption(
        "--gridgate-known",
        metavar="PATH",
        help="the tests that are not new: node ids one a line, or a durations file "
        "(default: the shard gate's durations file, if any)",
    )
    group.addoption(
        "--gridgate-flaky",
        choices=("warn", "fail"),
        help="whether any flaky test fails the gate and the run (config: flaky.action, env: "
        "GRIDGATE_FLAKY_ACTION; default: warn)",
    )


def pytest_gridgate_report_sections(config: pytest.Config) -> list[str]:
    return [SECTION, NEW_SECTION]  # in every report, empty when reruns are off


def enabled(settings: FlakySettings) -> bool:
    return bool(settings.reruns or settings.new_test_runs)


def _rerunfailures_reruns(config: pytest.Config) -> int:
    if not config.pluginmanager.has_plugin("rerunfailures"):
        return 0
    reruns = config.getoption("reruns", None)
    if reruns is None:
        try:
            reruns = int(str(config.getini("reruns") or 0))
        except (ValueError, TypeError):  # an older version without the ini option
            reruns = 0
    return int(reruns)


def pytest_configure(config: pytest.Config) -> None:
    settings = get_config(config).flaky
    if not enabled(settings):
        return
    if _rerunfailures_reruns(config):
        # Two reruns loops nest: every attempt of one would be run again by the other.
        raise pytest.UsageError(
            "gridgate: flaky.reruns / new_test_runs and pytest-rerunfailures' --reruns both "
            "rerun failed tests; use one (see docs/failures.md)"
        )
    from pytest_gridgate.flaky.known import KnownTests, known_tests
    from pytest_gridgate.flaky.reruns import Reruns

    categoriser = categories.plugin(config)
    if categoriser is None:  # the failures gate is blocked: reruns still need categories
        categoriser = categories.register(config)
    categoriser.as_raised()  # a failed attempt is decided on as it is reported
    known = known_tests(config) if settings.new_test_runs else KnownTests(None, "")
    reruns = Reruns(settings, known, categoriser)
    config.stash[_RERUNS_KEY] = reruns
    config.pluginmanager.register(reruns, "gridgate-reruns")
    if not hasattr(config, "workerinput"):
        tally = FlakyTally(config, settings, known.source)
        config.stash[_TALLY_KEY] = tally
        config.pluginmanager.register(tally, "gridgate-flaky")


def pytest_unconfigure(config: pytest.Config) -> None:
    for key in (_RERUNS_KEY, _TALLY_KEY):
        plugin = config.stash.get(key, None)
        if plugin is not None:
            config.pluginmanager.unregister(plugin)
            del config.stash[key]


class FlakyTally:
    """On the controller (or the only process): reruns as pytest shows them, the flaky
    tests as they are reported, the exit status."""

    def __init__(self, config: pytest.Config, settings: FlakySettings, known: str) -> None:
        from pytest_gridgate.flaky.junit import JunitAttempts

        self.settings = settings
        self.known = known
        self.ran = 0
        self.flaky: list[str] = []
        self.junit = JunitAttempts(config)

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(
        self, report: pytest.TestReport | pytest.CollectReport
    ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
        if report.outcome == "rerun":  # type: ignore[comparison-overlap]
            return "rerun", "R", ("RERUN", {"yellow": True})
        return None

    @pytest.hookimpl(tryfirst=True)  # before pytest's JUnit writer closes the test case
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        outcome: str = report.outcome
        if outcome == "rerun":
            attempt = report.__dict__.get("gridgate_attempt") or {}
            self.junit.rerun(report, attempt.get("exception", ""))
            return
        if report.when == "call" or (report.when == "setup" and report.failed):
            self.ran += 1
        self.junit.final(report)
        for section, entry in attached(report):
            if section == SECTION and entry["outcome"] == "flaky":
                self.flaky.append(entry["nodeid"])

    def rate(self) -> float:
        return len(self.flaky) / self.ran if self.ran else 0.0

    def failing(self) -> bool:
        too_many = self.rate() > self.settings.max_rate
        return too_many or (bool(self.flaky) and self.settings.action == "fail")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # Before the report writer (trylast): a verdict alone does not change the status.
        if session.exitstatus == pytest.ExitCode.OK and self.failing():
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _attempt_line(attempt: dict[str, Any]) -> str:
    if attempt["outcome"] != "failed":
        return f"attempt {attempt['attempt']} {attempt['outcome']}"
    exception = f"{attempt['exception']}: " if attempt.get("exception") else ""
    return (
        f"attempt {attempt['attempt']} failed ({attempt['category']}): "
        f"{exception}{attempt['message']}"
    )


def explain(entry: dict[str, Any]) -> str:
    new = " (new test)" if entry.get("new") else ""
    what = "flaky" if entry["outcome"] == "flaky" else "failed every attempt"
    lines = [f"{entry['nodeid']}: {what}{new}, {entry['runs']} runs"]
    lines += [f"  {_attempt_line(a)}" for a in entry["attempts"]]
    if entry.get("stopped"):
        lines.append(f"  stopped early: {entry['stopped']}")
    return "\n".join(lines)


def pytest_gridgate_report(report: GateReport, config: pytest.Config) -> None:
    settings = get_config(config).flaky
    entries = report.sections.get(SECTION, [])
    new_tests = report.sections.get(NEW_SECTION, [])
    tally = config.stash.get(_TALLY_KEY, None)
    if tally is None:
        report.add_verdict(SECTION, True, "reruns off (flaky.reruns = 0, new_test_runs = 0)")
        return
    flaky = [e for e in entries if e["outcome"] == "flaky"]
    failed = [e for e in entries if e["outcome"] == "failed"]
    # Read from the sections, not the tally: this hook also renders mid-run snapshots.
    rate = len(flaky) / tally.ran if tally.ran else 0.0
    too_many = rate > settings.max_rate
    passed = not too_many and not (flaky and settings.action == "fail")
    summary = (
        f"{len(flaky)} flaky of {tally.ran} tests run ({rate:.1%}; "
        f"flaky.max_rate {settings.max_rate:.1%})"
    )
    if too_many:
        summary += ": over the limit"
    elif flaky and settings.action == "warn":
        summary += " (warn only)"
    elif flaky:
        summary += ": flaky.action = fail"
    if failed:
        summary += f"; {len(failed)} failed every attempt"
    new_flaky = sum(1 for e in entries if e.get("new"))
    new_count = len(new_tests) + new_flaky
    if settings.new_test_runs:
        summary += (
            f"; {new_count} new test(s) run up to {settings.new_test_runs} times"
            if tally.known
            else "; no known tests (no --gridgate-known or durations file): no test is new"
        )
    details = [explain(e) for e in [*flaky, *failed]]
    report.add_verdict(SECTION, passed, summary, details)
