"""Per-test leak and zombie detection, with cleanup.

Every test is compared before setup with after teardown (first in the first
``pytest_runtest_setup`` hook, and last in the outermost ``pytest_runtest_teardown``
wrapper, which finishes once every teardown hook and finalizer, gridgate's own env
restoration included, has run: :mod:`pytest_gridgate.per_test`'s outermost bracket).
What a class-, module-, package- or session-scoped fixture creates belongs to the fixture:
it is excused for the test that first requested it, and checked when the fixture is
finalized, against the fixture. Findings become entries of the ``leaks`` section of the
gate report, attached to the teardown report so that they reach the xdist controller; in
``fail`` mode they turn the teardown into an error naming the leak, in ``warn`` mode into
a warning. After reporting, each leak is cleaned up by the check that found it.

This module is the gate as pytest sees it: the marker, the verdict, and the detector
(:mod:`pytest_gridgate.leaks.detector`), which is imported and registered only when leak
checks are on. The checks themselves live in one module each and share the small interface
of :mod:`pytest_gridgate.leaks.base`; third-party checks come from the
``pytest_gridgate_leak_checks`` hook.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

import pytest

from pytest_gridgate.config import get_config
from pytest_gridgate.per_test import per_test
from pytest_gridgate.settings.leaks import LeakSettings

if TYPE_CHECKING:
    from pytest_gridgate.leaks.detector import LeakDetector
    from pytest_gridgate.report import GateReport

SECTION = "leaks"
GROUPS_SECTION = "leak_groups"
#: Report section of the leak checks that could not run (``{"nodeid", "message"}``): a
#: gate that could not check does not pass.
CHECK_ERRORS = "leak_check_errors"
MARKER = "gridgate_allow_leaks"
_DETECTOR_KEY: pytest.StashKey[LeakDetector] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gridgate")
    group.addoption(
        "--gridgate-leaks",
        choices=("off", "warn", "fail"),
        help="what a leaked resource does: off, warn or fail (config: leaks.action, env: "
        f"GRIDGATE_LEAKS_ACTION; default: {LeakSettings().action})",
    )


def pytest_gridgate_report_sections(config: pytest.Config) -> list[str]:
    return [SECTION]  # in every report, empty when nothing leaked


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*checks): let this test leave resources of the given checks or kinds "
        "(threads, processes, zombies, fds, socket, environ, cwd, signals, asyncio) behind; "
        "no arguments allows every kind",
    )
    settings = get_config(config).leaks
    if settings.action == "off":
        return
    from pytest_gridgate.leaks.detector import LeakDetector

    detector = LeakDetector(config, settings)
    config.stash[_DETECTOR_KEY] = detector
    config.pluginmanager.register(detector, "gridgate-leaks")
    per_test(config).around(detector.before_test, detector.after_test, outermost=True)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> Generator[None, None, None]:
    if _DETECTOR_KEY in session.config.stash:
        from pytest_gridgate.leaks import headroom

        if headroom.exhausted():
            # A test used up the process's descriptors and kept them (the gate's own
            # checks did not need the spares since): the end of the session (its check,
            # the report, the watchdog's cleanup) gets them.
            headroom.hand_out()
    return (yield)


def pytest_unconfigure(config: pytest.Config) -> None:
    detector = config.stash.get(_DETECTOR_KEY, None)
    if detector is not None:
        config.pluginmanager.unregister(detector)
        del config.stash[_DETECTOR_KEY]


def pytest_gridgate_report(report: GateReport, config: pytest.Config) -> None:
    settings = get_config(config).leaks
    if settings.action == "off":
        report.add_verdict(SECTION, True, "leak detection off")
        return
    entries = report.sections.get(SECTION, [])
    errors = report.sections.get(CHECK_ERRORS, [])
    if errors:
        # Not a pass, in any mode: some tests were not checked.
        tests = {error["nodeid"] for error in errors}
        details = [f"{e['nodeid']}: {e['message']}" for e in errors]
        details += [f"{e['nodeid']}: {e['kind']}: {e['detail']}" for e in entries]
        summary = f"leak checks failed to run in {len(tests)} test(s)"
        if entries:
            summary += f"; {len(entries)} leak(s)"
        report.add_verdict(SECTION, False, summary, details)
        return
    if not entries:
        report.add_section(GROUPS_SECTION, [])
        report.add_verdict(SECTION, True, "no leaks")
        return
    from pytest_gridgate.leaks.groups import group, verdict_line

    # One cause often leaks the same thing in many tests: one line (and one JSON group)
    # per cause, with the place to fix it; every test's own entry stays in ``leaks``.
    groups = group(entries)
    report.add_section(GROUPS_SECTION, groups)
    owners = {entry.get("fixture") or entry["nodeid"] for entry in entries}
    kinds = sorted({entry["kind"] for entry in entries})
    causes = f" from {len(groups)} cause(s)" if len(groups) < len(entries) else ""
    summary = (
        f"{len(entries)} leak(s) in {len(owners)} test(s) or fixture(s){causes}: "
        f"{', '.join(kinds)}" + (" (warn only)" if settings.action == "warn" else "")
    )
    details = [verdict_line(found) for found in groups]
    report.add_verdict(SECTION, settings.action == "warn", summary, details)
