"""Hooks through which other plugins extend gridgate.

Registered with ``pytest_addhooks``; implement them in a conftest.py or a plugin like any
pytest hook. See ``docs/architecture.md`` for examples.

Findings that belong to one test do not need a hook: attach them to the test's report with
:func:`pytest_gridgate.report.attach` (in a ``pytest_runtest_makereport`` wrapper) and they
reach the report on the xdist controller in the named section.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_gridgate.leaks.base import LeakCheck
    from pytest_gridgate.report import GateReport


@pytest.hookspec
def pytest_gridgate_leak_checks(config: pytest.Config) -> list[LeakCheck]:  # type: ignore[empty-body]
    """Return extra leak checks to run around every test, next to the built-in ones.

    Called once, after ``pytest_configure``. Each returned :class:`LeakCheck` takes a cheap
    snapshot before setup and after teardown, and compares when they differ; see
    ``pytest_gridgate.leaks.base``.
    """


@pytest.hookspec
def pytest_gridgate_report_sections(config: pytest.Config) -> list[str]:  # type: ignore[empty-body]
    """Return the names of the list sections this gate always has in the gate report.

    Called once, when the run's report is made (``pytest_configure``); each name becomes
    a section present from the start, empty until something is added, so that it is in
    every JSON report and any ``pytest_gridgate_report`` implementation can read it. The
    sections appear in the order the plugins were registered. A section that only exists
    when there is something to say needs no declaration: ``add_section`` creates it.
    """


@pytest.hookspec
def pytest_gridgate_report(report: GateReport, config: pytest.Config) -> None:
    """Add verdicts and sections to the gate report before it is rendered.

    Called once per run, on the xdist controller (or the only process), after every test
    has finished and ``session.exitstatus`` is final (``report.exit_code`` holds it). Use
    :meth:`GateReport.add_verdict` for a gate's line (name, passed, one-line summary, and
    detail lines, which the terminal shortens to a few) and :meth:`GateReport.add_section`
    for extra JSON data. Attached per-test findings are already in ``report.sections``.
    A verdict does not change the exit status.

    It is also called before the run ends, when a report may have to be written without
    an end: the timeouts gate's stage two, and (on a throwaway copy, at most once a
    second while tests start) the snapshot its supervisor process writes out if it kills
    the run. So an implementation reads its gate's state and writes only into ``report``.
    """
