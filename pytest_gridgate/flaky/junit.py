"""Reruns in pytest's ``--junitxml`` file, as Maven Surefire writes them.

pytest's JUnit writer knows nothing of reruns (pytest-rerunfailures' reruns vanish from it,
its issue #170). Surefire's schema has the elements CI servers read: a test that passed
after failing gets one ``<flakyFailure>`` (a failed call) or ``<flakyError>`` (a failed
setup or teardown) per failed attempt; a test that failed every attempt keeps its
``<failure>``/``<error>`` and gets a ``<rerunFailure>``/``<rerunError>`` per earlier
attempt. Each has ``message`` and ``type`` attributes and a ``<stackTrace>`` child.

Works on the xdist controller as in a single process: the attempts arrive as reports with
outcome ``rerun`` before the test's last report, which closes its ``<testcase>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from pytest_gridgate._compat import junit_writer
from pytest_gridgate.categories import first_line


def _key(report: pytest.TestReport) -> tuple[str, object]:
    return report.nodeid, getattr(report, "node", None)


class JunitAttempts:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.attempts: dict[tuple[str, object], list[tuple[str, str, str, str]]] = {}
        self.failed: set[tuple[str, object]] = set()
        # <testcase> elements pytest's writer opened and closed for a rerun attempt that
        # failed in teardown (its teardown report closes a test case): taken out again.
        self.stray: dict[tuple[str, object], list[Any]] = {}

    def rerun(self, report: pytest.TestReport, exception: str) -> None:
        xml = junit_writer(self.config)
        if xml is None:
            return
        key = _key(report)
        kind = "Failure" if report.when == "call" else "Error"
        crash = getattr(report.longrepr, "reprcrash", None)
        message = first_line(str(crash.message) if crash else report.longreprtext)
        self.attempts.setdefault(key, []).append((kind, message, exception, report.longreprtext))
        if report.when == "teardown":
            self.stray.setdefault(key, []).append(xml.node_reporter(report))

    def final(self, report: pytest.TestReport) -> None:
        """A report of the attempt that decides (called before pytest's writer sees it)."""
        key = _key(report)
        if key not in self.attempts:
            return
        if report.failed:
            self.failed.add(key)
        if report.when != "teardown":
            return
        xml = junit_writer(self.config)
        attempts = self.attempts.pop(key)
        failed = key in self.failed
        self.failed.discard(key)
        if xml is None:
            return
        for stray in self.stray.pop(key, ()):
            if stray in xml.node_reporters_ordered:
                xml.node_reporters_ordered.remove(stray)
        reporter = xml.node_reporter(report)
        for kind, message, exception, text in attempts:
            element = ET.Element(
                ("rerun" if failed else "flaky") + kind, message=message, type=exception
            )
            ET.SubElement(element, "stackTrace").text = text
            reporter.append(element)
