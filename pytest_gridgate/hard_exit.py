"""``os._exit()`` in the pytest process: the run still fails, and the report says where.

``os._exit(0)`` in a test, a fixture or at import ends the process on the spot: no
``pytest_sessionfinish``, no report, every later test lost, and exit status 0, so a CI step
running plain ``pytest`` goes green. Nothing can change the status of a process after it
called the real ``os._exit``; but the call itself can be seen first. While the session
runs, ``os._exit`` is wrapped: called in the pytest process (not in a forked child, which
is what ``os._exit`` is for), it writes the gate report with a failed ``run`` verdict naming
the test (or, during collection, the module, as a collection error), then ends the
process as asked, with a non-zero status: 1 in a test, 2 during collection, the code given
if that was not 0.

What the wrapper cannot see (a module that took ``os._exit`` before the session began, C
code calling ``_exit``, a kill from outside) the timeouts supervisor notices when the
process is gone: it writes the "ended" report (``pytest_gridgate.timeouts.takeover.ended``), but
the exit status stays what it was. Under xdist the controller reports a lost worker.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Generator
from types import FrameType
from typing import Any, NoReturn

import pytest

from pytest_gridgate import report as gate_report
from pytest_gridgate.frames import collector_of, item_of, where_stuck

_KEY = pytest.StashKey["ExitGuard"]()


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return  # a worker's end is its controller's to report (a crashed worker)
    guard = ExitGuard(config)
    config.stash[_KEY] = guard
    config.pluginmanager.register(guard, "gridgate-exit-guard")
    guard.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    guard = config.stash.get(_KEY, None)
    if guard is not None:
        guard.uninstall()


class ExitGuard:
    """The ``os._exit`` of one session (sessions nest under pytester: each wraps the one
    before it and puts it back)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.pid = os.getpid()
        self.wrapped: Any = None
        self.called = False
        self.collecting = False

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # Not at configure: --markers, --fixtures and --help configure pytest, then end
        # without a session, and so without the report that replaces this one.
        _provisional_report(self.config)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_collection(self) -> Generator[None, object, object]:
        self.collecting = True
        try:
            return (yield)
        finally:
            self.collecting = False

    def install(self) -> None:
        self.wrapped = os._exit
        os._exit = self._exit  # type: ignore[assignment]

    def uninstall(self) -> None:
        if os._exit == self._exit:
            os._exit = self.wrapped

    def _exit(self, code: int) -> NoReturn:
        if os.getpid() != self.pid or self.called:
            self.wrapped(code)  # a forked child, or a second call from our own report
        self.called = True
        try:
            code = self._report(code, sys._getframe(1))
        finally:
            self.wrapped(code)
        raise AssertionError("os._exit returned")  # for the type checker: it never does

    def _report(self, code: int, frame: FrameType | None) -> int:
        config = self.config
        where = where_stuck(frame, config.rootpath) or "?"
        item = item_of(frame)
        # The timeouts gate by its registered name (gates do not import each other): its
        # terminal descriptor, and its watchdog, whose watcher would report this end again.
        timeouts = config.pluginmanager.get_plugin("gridgate-timeouts")
        collecting = item is None and self.collecting
        report = gate_report.get_report(config)
        if item is not None:
            summary = f"os._exit({code!r}) in {item.nodeid} at {where}"
        elif collecting:
            nodeid = collector_of(frame, "collection")
            summary = f"os._exit({code!r}) while collecting {nodeid} at {where}"
            message = f"{summary}: a module must not end the process while being collected"
            rep = pytest.CollectReport(nodeid, "failed", f"E   {message}", [])
            config.hook.pytest_collectreport(report=rep)
        else:
            summary = f"os._exit({code!r}) at {where}"
        new_code = code if code else 2 if collecting else 1
        report.add_verdict(
            "run",
            False,
            f"{summary}: the process ended there",
            [
                f"the rest of the session did not run; exit status {new_code}, not {code!r}",
            ],
        )
        report.exit_code = new_code
        fd = getattr(timeouts, "stdout_fd", -1)
        fd = fd if isinstance(fd, int) and fd >= 0 else 1
        watchdog = getattr(timeouts, "watchdog", None)
        if watchdog is not None:
            watchdog.stop()
        try:
            gate_report.write_emergency(config, report, fd, lost_test=item is not None)
        except Exception as exc:  # the process ends either way: say why there is no report
            os.write(fd, f"gridgate: no report after {summary}: {exc!r}\n".encode())
        return new_code


def _provisional_report(config: pytest.Config) -> None:
    """Until the run writes its report, the JSON report says it did not finish: a process
    that ends without finishing its session (and its exit status may be 0) leaves a failed
    report behind, not a missing one nor the previous run's."""
    from pytest_gridgate import report_format

    path = gate_report.output_paths(config)["report"]
    distributed = getattr(config.option, "dist", "no") != "no"  # xdist's, once it parsed -n
    if not path or distributed or getattr(config.option, "numprocesses", None):
        # Not under xdist: the controller outlives its workers and reports their loss;
        # and a worker would take an existing `--gridgate-report PATH` for a path to
        # collect (pytest derives the rootdir from such arguments).
        return
    data: dict[str, Any] = gate_report.GateReport().to_json()
    data["exit_code"] = 1
    data["outcome"] = report_format.outcome(1)
    data["gates"] = [
        {
            "gate": "run",
            "passed": False,
            "summary": "the run has not finished its session (or ended without finishing it)",
            "details": [],
        }
    ]
    with contextlib.suppress(OSError):  # the end of the run says what is wrong with it
        report_format.write_files(data, path, None, False)
