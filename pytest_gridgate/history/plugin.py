"""The pytest side of the history: the run's own clock, and ``--gridgate-history PATH``.

Every report gets a ``run`` section, ``{started, wall_seconds}``: the suite's wall time,
which the history's duration trend needs and which the per-test seconds cannot give
(fixtures, collection, xdist's start-up). Given ``--gridgate-history PATH`` the run is
also judged against that history as ``gridgate history add`` would judge it (without
adding it: that stays the command's, after ``gridgate merge`` for a sharded run), as the
``history`` verdict and section; a broken trend limit fails a run that had passed (exit 1).
"""

from __future__ import annotations

import datetime
import time

import pytest

from pytest_gridgate.config import get_config
from pytest_gridgate.report import GateReport, get_report

_CLOCK_KEY = pytest.StashKey["RunClock"]()


class RunClock:
    def __init__(self, session: pytest.Session) -> None:
        self.session = session
        self.started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        self.t0 = time.monotonic()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gridgate")
    group.addoption(
        "--gridgate-history",
        metavar="PATH",
        help="judge the run against this history (as gridgate history add) in the gate report",
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_CLOCK_KEY] = RunClock(session)


@pytest.hookimpl(trylast=True)
def pytest_gridgate_report(report: GateReport, config: pytest.Config) -> None:
    # trylast: the trend reads the other gates' sections (leaks, flaky, durations).
    clock = config.stash.get(_CLOCK_KEY, None)
    if clock is None:
        return
    wall = round(time.monotonic() - clock.t0, 3)
    report.add_section("run", {"started": clock.started, "wall_seconds": wall})
    option = config.getoption("gridgate_history", None)
    if not option:
        return
    # Imported here: a run without --gridgate-history pays nothing for it.
    from pytest_gridgate.history.gate import judge_report

    path = config.invocation_params.dir / option
    verdict, section = judge_report(report.to_json(), path, get_config(config).history)
    report.add_verdict("history", verdict["passed"], verdict["summary"], verdict["details"])
    if section is not None:
        report.add_section("history", section)
    # Only the run's own end decides the exit status, not a mid-run snapshot's copy.
    if not verdict["passed"] and report is get_report(config) and report.exit_code == 0:
        report.exit_code = clock.session.exitstatus = 1
