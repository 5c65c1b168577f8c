"""Timeouts gate: per-test timeouts that never hang CI, built on pytest-timeout.

* Defaults: ``timeouts.default`` and ``timeouts.markers`` are fed to pytest-timeout as its
  own settings (its global timeout, or a ``timeout`` marker on the item), so a test costs
  exactly what plain pytest-timeout costs. Precedence, first wins: ``@pytest.mark.timeout``,
  ``--timeout`` / ``PYTEST_TIMEOUT``, ``timeouts.markers``, the ``timeout`` ini option,
  ``timeouts.default``.
* Stage one is pytest-timeout's signal method: the test fails, the run goes on. We install
  the SIGALRM handler ourselves (pytest-timeout's ``pytest_timeout_set_timer`` hook) so that
  it first notes where the test was stuck (and what an event loop was awaiting) and kills
  the children the test started, then hands over to pytest-timeout's ``timeout_sigalrm``.
* Stage two (``pytest_gridgate.watchdog``) ends the process ``kill_after`` seconds later if
  the test is still running; the report names the test either way.
* ``timeouts.session`` stops starting tests when the run's budget is spent;
  ``timeouts.collection`` bounds everything from plugin start to the end of collection.
"""

from __future__ import annotations

# getsignal without the enum conversion of signal.getsignal: called once per test.
import _signal  # type: ignore[import-not-found]
import contextlib
import faulthandler
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Generator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import pytest_timeout  # type: ignore[import-untyped]

from pytest_gridgate import report as gate_report
from pytest_gridgate.config import get_config
from pytest_gridgate.frames import collector_of
from pytest_gridgate.markers import any_marker, marked_items
from pytest_gridgate.settings.timeouts import TimeoutSettings
from pytest_gridgate.timeout_report import explain_timeout
from pytest_gridgate.watchdog import (
    COLLECTION_INDEX,
    LONGEST,
    Armed,
    Supervisor,
    Watchdog,
    awaiting,
    clamp,
    kill_tree,
    phase_of,
    since_boot,
    thread_frame,
    where_stuck,
)

_GATE_KEY = pytest.StashKey["TimeoutGate"]()
# The real os._exit, taken when gridgate is imported (before the hard_exit gate wraps it
# for each session): stage two ends the process with it after writing its own report.
_real_exit = os._exit
_SECTION = "timeouts"
# Handed to xdist workers: where a worker leaves the record of the test it was killed for,
# and when the run's session budget started.
_CRASH_DIR = "_gridgate_timeouts_dir"
_SESSION_START = "_gridgate_session_started"
# Handed to xdist workers started after others were killed while collecting: the modules
# that hung their import, which the new workers must not import again.
_HUNG_MODULES = "_gridgate_hung_modules"
COLLECTION = "collection"
HAVE_SIGALRM = hasattr(signal, "SIGALRM")  # not on Windows: no stage one there
_MAIN_THREAD = threading.main_thread().ident


class CollectionTimeout(Exception):
    """Raised in the importing frame when collection runs past ``timeouts.collection``."""


def _timeout_plugin(config: pytest.Config) -> Any:
    return config.pluginmanager.get_plugin("timeout")


def pytest_gridgate_report_sections(config: pytest.Config) -> list[str]:
    return [_SECTION]  # in every report, empty when nothing timed out


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # The earliest point a plugin's hook runs: the collection clock starts here so that
    # conftest imports are bounded too.
    gate = TimeoutGate(early_config)
    early_config.stash[_GATE_KEY] = gate
    early_config.pluginmanager.register(gate, "gridgate-timeouts")
    gate.start_collection_clock()


class TimeoutGate:
    """The timeouts gate of one pytest run (registered as ``gridgate-timeouts``)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings: TimeoutSettings = get_config(config).timeouts
        self.root = config.rootpath
        self.watchdog = Watchdog(self._stage_two)
        self.fired: dict[str, dict[str, Any]] = {}  # stage one, waiting for the test's report
        self.collection_fired: dict[str, dict[str, Any]] = {}
        self.marker_defaults: dict[str, float] = {}
        self.reports = TimedOutReports(self)
        self.budget: SessionBudget | None = None
        self.crash_dir: Path | None = None  # xdist controller: records left by killed workers
        self.hung_modules: list[str] = []  # xdist controller: whose import killed a worker
        self.worker_record: Path | None = None  # xdist worker: where to leave ours
        self.stdout_fd = self.stderr_fd = -1
        self._old_alarm: Any = None
        self._old_timer: tuple[float, float] = (0.0, 0.0)
        self._clock_started = 0.0
        self._collecting = False
        self._index: dict[str, int] = {}
        self._snapshot_at = 0.0
        self._alarm: tuple[pytest.Item, Any, float] | None = None  # the test it interrupts
        self._handler = self._on_alarm  # one bound method, compared by identity
        self._handler_replaced: Any = None
        # Where the per-test timeout of a test without a marker comes from, for the verdict.
        self.applies = "timeouts.default"

    # -- defaults --------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)  # after pytest-timeout has read its own settings
    def pytest_configure(self, config: pytest.Config) -> None:
        # Duplicates of the terminal's descriptors, taken while output capture is suspended:
        # stage two writes through them when the test's capture owns fd 1 and 2.
        self.stdout_fd, self.stderr_fd = os.dup(1), os.dup(2)
        started = time.time()
        workerinput = getattr(config, "workerinput", None)
        if workerinput is not None:
            started = workerinput.get(_SESSION_START, started)
            if _CRASH_DIR in workerinput:
                self.worker_record = Path(workerinput[_CRASH_DIR]) / f"{workerinput['workerid']}"
            hung = workerinput.get(_HUNG_MODULES)
            if hung:
                config.pluginmanager.register(SkipHungModules(hung), "gridgate-hung-modules")
        elif config.pluginmanager.has_plugin("dsession"):
            import tempfile

            self.crash_dir = Path(tempfile.mkdtemp(prefix="gridgate-timeouts-"))
            self.reports.register()  # any worker's report may carry a timeout
        if self.settings.session:
            role = "worker" if workerinput is not None else "controller" if self.crash_dir else ""
            self.budget = SessionBudget(self.settings.session, started, role)

        if _timeout_plugin(config) is not None:  # else (-p no:timeout) no per-test timeouts
            self._feed_pytest_timeout(config)
        if self.budget is not None and not self._every_test_has_a_timer(config):
            config.pluginmanager.register(BudgetAfterEachTest(self.budget), "gridgate-budget")
        self._start_supervisor(config)

    def _every_test_has_a_timer(self, config: pytest.Config) -> bool:
        # Then the timer's cancel call checks the budget (timeout(0) markers aside).
        return _timeout_plugin(config) is not None and bool(getattr(config, "_env_timeout", 0))

    def _feed_pytest_timeout(self, config: pytest.Config) -> None:
        if config.getoption("timeout") is not None:
            self.applies = "--timeout"
        elif os.environ.get("PYTEST_TIMEOUT"):
            self.applies = "PYTEST_TIMEOUT"
        else:
            self.marker_defaults = dict(self.settings.markers)
            if config.getini("timeout"):
                self.applies = "the timeout ini option"
            elif self.settings.default:
                config._env_timeout = self.settings.default  # type: ignore[attr-defined]

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.stop_collection_clock()
        replaced = self._handler_replaced
        if replaced is not None and signal.getsignal(signal.SIGALRM) is self._handler:
            signal.signal(signal.SIGALRM, replaced)
        self.watchdog.stop()
        for fd in (self.stdout_fd, self.stderr_fd):
            if fd >= 0:
                # A test may have closed them already (os.closerange): nothing to release.
                with contextlib.suppress(OSError):
                    os.close(fd)
        if self.crash_dir is not None:
            import shutil

            shutil.rmtree(self.crash_dir, ignore_errors=True)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        if _timeout_plugin(self.config) is None:
            return
        bad: dict[str, str] = {}
        for item in marked_items(items, any_marker):
            # keywords first: a few dict lookups up the tree, cheaper than iter_markers.
            marker = item.get_closest_marker("timeout") if "timeout" in item.keywords else None
            if marker is not None:
                try:
                    seconds = pytest_timeout._get_item_settings(item, marker).timeout
                    if seconds is not None and not seconds >= 0:  # NaN, or negative
                        raise ValueError(f"Invalid timeout {seconds}: not a number of seconds")
                except (TypeError, ValueError) as exc:
                    bad[item.nodeid] = f"bad @pytest.mark.timeout{_marker_args(marker)}: {exc}"
                    # A valid marker in front of the bad one keeps pytest-timeout from
                    # raising inside its runtest hook (an INTERNALERROR for the session).
                    item.add_marker(pytest.mark.timeout(self.settings.default), append=False)
                continue
            if self.marker_defaults:
                budgets = [
                    seconds
                    for name, seconds in self.marker_defaults.items()
                    if name in item.keywords and item.get_closest_marker(name) is not None
                ]
                if budgets:
                    item.add_marker(pytest.mark.timeout(max(budgets)))
        if bad:
            self.config.pluginmanager.register(BadMarkers(bad), "gridgate-bad-timeout-markers")

    # -- stage one ---------------------------------------------------------------------------

    # optionalhook: with -p no:timeout the hook has no spec, and the gate stays quiet.
    @pytest.hookimpl(tryfirst=True, optionalhook=True)
    def pytest_timeout_set_timer(self, item: pytest.Item, settings: Any) -> bool | None:
        # Runs instead of pytest-timeout's own implementation and does the same, cheaper:
        # the SIGALRM handler stays installed between tests (installing one costs more
        # than the rest of a timer), so the per-test work is two setitimer calls.
        seconds = float(settings.timeout)
        if not seconds <= LONGEST:  # a marker's inf or NaN, or 1e10: setitimer overflows
            seconds = LONGEST
        kill_after = self.settings.kill_after
        started = since_boot()
        nodeid = item.nodeid
        signal_method = settings.method == "signal" and threading.get_ident() == _MAIN_THREAD
        if kill_after:
            # Without the main thread's signals there is no stage one: stage two at once.
            after = seconds + kill_after if signal_method else seconds
            index = self._index.get(nodeid, -1)
            deadline = self.watchdog.arm(nodeid, seconds, after, index)
            if deadline - self._snapshot_at > after + 1.0:
                self._snapshot()
        elif not signal_method:
            return None  # pytest-timeout's thread method: it dumps stacks and exits
        self._alarm = (item, settings, started)
        item.cancel_timeout = self._cancel  # type: ignore[attr-defined]
        if signal_method:
            if _signal.getsignal(signal.SIGALRM) is not self._handler:
                self._install_alarm_handler()  # a test replaced it
            signal.setitimer(signal.ITIMER_REAL, seconds)
        return True

    def _install_alarm_handler(self) -> None:
        if not HAVE_SIGALRM or threading.current_thread() is not threading.main_thread():
            return
        previous = signal.signal(signal.SIGALRM, self._handler)
        if self._handler_replaced is None:
            self._handler_replaced = previous

    def _cancel(self) -> None:
        # pytest-timeout's cancel hook calls this (item.cancel_timeout) after teardown, and
        # when pdb starts: our hook needs no implementation of its own.
        if HAVE_SIGALRM:
            signal.setitimer(signal.ITIMER_REAL, 0)
        alarm, self._alarm = self._alarm, None
        self.watchdog.disarm()
        if self.budget is not None and alarm is not None:
            self.budget.check(alarm[0].nodeid)

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        # pytest-timeout's timeout_sigalrm with one step in front: note where the test is
        # stuck and kill what it started.
        __tracebackhide__ = True
        if self._alarm is None:
            return  # a late alarm between tests
        item, settings, started = self._alarm
        if not settings.disable_debugger_detection and pytest_timeout.is_debugging():
            return
        self._stage_one(item, float(settings.timeout), frame, started)
        # As pytest-timeout's dump_stacks, minus the stacks of gridgate's own threads.
        _dump_other_threads(item.config)
        pytest.fail(pytest_timeout.PYTEST_FAILURE_MESSAGE % settings.timeout)

    def _stage_one(
        self, item: pytest.Item, seconds: float, frame: FrameType | None, started: float
    ) -> None:
        entry: dict[str, Any] = {"nodeid": item.nodeid, "seconds": seconds, "stage": 1}
        entry["where"] = where_stuck(frame, self.root)
        lines = awaiting(frame, self.root, own_thread=True)
        if lines:  # the loop's select() is no answer: name the line the test awaits
            entry["where"] = lines[0].split(" awaiting at ", 1)[1]
            entry["awaiting"] = lines
        # No orphans: what the test started dies with it, before teardown waits on it.
        supervisor = self.watchdog.supervisor
        killed = kill_tree(os.getpid(), since=started, spare=supervisor.pid if supervisor else None)
        if killed:
            entry["killed"] = killed
        self.fired[item.nodeid] = entry
        self.reports.register()

    # -- stage two -----------------------------------------------------------------------------

    def _start_supervisor(self, config: pytest.Config) -> None:
        # Started once the terminal's descriptors are known (pytest_configure), before test
        # modules are imported, so that it bounds collection too; never on the xdist
        # controller, which runs no test.
        if not self.settings.kill_after or self.crash_dir is not None:
            return
        if not sys.platform.startswith("linux") or config.option.collectonly:
            return
        if not self.settings.collection and _timeout_plugin(config) is None:
            return
        record = str(self.worker_record) if self.worker_record else None
        spec = {"record": record, **gate_report.output_paths(config)}
        try:
            supervisor = Supervisor(spec, (self.stdout_fd, self.stderr_fd))
        except OSError as exc:  # the run goes on; only C code holding the GIL is unbounded
            self._write(self.stderr_fd, f"gridgate: no timeouts supervisor: {exc}\n")
            return
        self.watchdog.supervise(supervisor, COLLECTION_INDEX)  # the collection clock may run

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        if self.budget is not None:
            self.budget.session = session
        # The SIGALRM handler goes in before the first test, not during it: the leaks gate
        # compares each test's signal handlers before and after.
        if session.items and _timeout_plugin(self.config) is not None:
            self._install_alarm_handler()
        supervisor = self.watchdog.supervisor
        if supervisor is None or not session.items:
            return
        nodeids = [item.nodeid for item in session.items]
        self._index = {nodeid: i for i, nodeid in enumerate(nodeids)}
        supervisor.set_nodeids(nodeids)
        self._snapshot()

    def _snapshot(self) -> None:
        # What the supervisor writes if it has to kill this process; refreshed at most once
        # a second, as tests start.
        self._snapshot_at = time.monotonic()
        supervisor = self.watchdog.supervisor
        if supervisor is None or self.worker_record is not None:
            return
        supervisor.snapshot(gate_report.snapshot(self.config))

    def _stage_two(self, armed: Armed) -> None:
        """Runs in the watchdog thread: the test ignored stage one. End the process."""
        if pytest_timeout.SUPPRESS_TIMEOUT:  # someone is in pdb: never kill a debugger
            return
        frame = thread_frame(armed.thread_id)
        collecting = armed.nodeid == COLLECTION
        entry: dict[str, Any] = {
            "nodeid": collector_of(frame, COLLECTION) if collecting else armed.nodeid,
            "seconds": armed.seconds,
            "phase": COLLECTION if collecting else phase_of(frame) or "call",
            "stage": 2,
            "where": where_stuck(frame, self.root),
        }
        lines = awaiting(frame, self.root, own_thread=False)
        if lines:
            entry["awaiting"] = lines
        self._write(
            self.stderr_fd,
            f"\n+++ gridgate TIMEOUT: {armed.nodeid} ran past its {armed.seconds:g}s timeout "
            "and did not stop; dumping every thread's stack and ending the process +++\n",
        )
        faulthandler.dump_traceback(file=self.stderr_fd, all_threads=True)
        supervisor = self.watchdog.supervisor
        killed = kill_tree(os.getpid(), spare=supervisor.pid if supervisor else None)
        if killed:
            entry["killed"] = killed
        code = pytest.ExitCode.INTERRUPTED if collecting else pytest.ExitCode.TESTS_FAILED
        try:
            self._leave_record(entry, code)
        finally:
            if supervisor is not None:
                supervisor.stop()
            # The main thread is stuck: no exception can reach it, only ending the process can.
            _real_exit(code)  # not os._exit: hard_exit's wrapper would report again

    def _leave_record(self, entry: dict[str, Any], code: int) -> None:
        """The verdict of a process that is about to end: a crash record under xdist (the
        controller attributes the lost worker to the test), else the gate report itself."""
        if self.worker_record is not None:
            self.worker_record.write_text(json.dumps(entry), encoding="utf-8")
            return
        rep = gate_report.get_report(self.config)
        if entry["phase"] == COLLECTION:
            self.collection_fired.pop(entry["nodeid"], None)  # it ignored stage one
            # The stuck module is a collection error; its timeout comes with the report.
            self.config.hook.pytest_collectreport(report=_hung_collect_report(entry))
        else:
            rep.add(_SECTION, entry)
        rep.exit_code = code
        gate_report.write_emergency(
            self.config, rep, self.stdout_fd, lost_test=entry["phase"] != COLLECTION
        )

    @staticmethod
    def _write(fd: int, text: str) -> None:
        with contextlib.suppress(OSError):
            os.write(fd, text.encode("utf-8", "replace"))

    # -- xdist: the controller names the test a killed worker was running ------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        if self.crash_dir is not None:
            node.workerinput[_CRASH_DIR] = str(self.crash_dir)
        if self.budget is not None:
            node.workerinput[_SESSION_START] = self.budget.started
        if self.hung_modules:
            node.workerinput[_HUNG_MODULES] = list(self.hung_modules)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        # A worker killed while collecting runs no test, so no crash item names it: its
        # record names the module that hung. Reported once, and the workers xdist starts
        # in its place skip that module (they would hang on it in turn).
        if self.crash_dir is None or error is None:
            return
        record = self.crash_dir / str(node.gateway.id)
        try:
            entry = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if entry.get("phase") != COLLECTION:
            return  # a test's: pytest_handlecrashitem attaches it to the crash report
        record.unlink()
        if entry["nodeid"] in self.hung_modules:
            return
        self.hung_modules.append(entry["nodeid"])
        self.config.hook.pytest_collectreport(report=_hung_collect_report(entry))

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:
        if self.crash_dir is None:
            return
        gateway = getattr(getattr(report, "node", None), "gateway", None)
        if gateway is None:
            return
        record = self.crash_dir / str(gateway.id)
        try:
            entry = json.loads(record.read_text(encoding="utf-8"))
            record.unlink()
        except (OSError, ValueError):
            return  # the worker died of something else
        if entry.get("nodeid") != crashitem:
            return
        gate_report.attach(report, _SECTION, entry)
        report.longrepr = f"{explain_timeout(entry)}\n{report.longrepr}"

    # -- session budget --------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None]:
        # Under xdist a worker that spent the budget stops, and the controller calls that an
        # interruption (exit 2); it is a failed run, like without xdist.
        if (
            self.budget is not None
            and self.budget.expired()
            and session.exitstatus == pytest.ExitCode.INTERRUPTED
            and self.crash_dir is not None
        ):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return (yield)

    # -- collection clock ----------------------------------------------------------------------

    def start_collection_clock(self) -> None:
        seconds = self.settings.collection
        if not seconds:
            return
        self._collecting = True
        if HAVE_SIGALRM and threading.current_thread() is threading.main_thread():
            self._old_alarm = signal.signal(signal.SIGALRM, self._collection_alarm)
            self._old_timer = signal.setitimer(signal.ITIMER_REAL, clamp(seconds))
            self._clock_started = time.monotonic()
        if self.settings.kill_after:
            after = seconds + self.settings.kill_after
            self.watchdog.arm(COLLECTION, seconds, after, COLLECTION_INDEX)

    def stop_collection_clock(self) -> None:
        if not self._collecting:
            return
        self._collecting = False
        if self._old_alarm is not None:
            # Put back an alarm that was pending before us (an outer pytest-timeout, when
            # this run is a pytester run inside another test).
            delay, interval = self._old_timer
            if delay:
                delay = max(delay - (time.monotonic() - self._clock_started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, delay, interval)
            signal.signal(signal.SIGALRM, self._old_alarm)
            self._old_alarm = None
        self.watchdog.disarm()

    def _collection_alarm(self, signum: int, frame: FrameType | None) -> None:
        __tracebackhide__ = True  # the traceback ends at the line that blocked
        seconds = self.settings.collection
        where = where_stuck(frame, self.root)
        nodeid = collector_of(frame, COLLECTION)
        self.collection_fired[nodeid] = {
            "nodeid": nodeid,
            "seconds": seconds,
            "phase": COLLECTION,
            "stage": 1,
            "where": where,
        }
        self.reports.register()
        # The rest of collection gets a short slice each, so one slow module cannot spend
        # the next module's time; stage two still ends a collection that ignores signals.
        grace = max(self.settings.kill_after, 1.0)
        signal.setitimer(signal.ITIMER_REAL, clamp(grace))
        if self.settings.kill_after:
            after = grace + self.settings.kill_after
            self.watchdog.arm(COLLECTION, seconds, after, COLLECTION_INDEX)
        raise CollectionTimeout(
            f"gridgate: collection ran past timeouts.collection = {seconds:g}s; stuck at {where}"
        )

    @pytest.hookimpl(wrapper=True)
    def pytest_collection(self, session: pytest.Session) -> Generator[None, object, object]:
        if self._collecting:
            # What the supervisor writes if collection hangs in C code: the environment,
            # every gate's verdict so far.
            self._snapshot()
        try:
            return (yield)
        finally:
            self.stop_collection_clock()

    def pytest_collectstart(self, collector: pytest.Collector) -> None:
        supervisor = self.watchdog.supervisor
        if self._collecting and supervisor is not None:
            supervisor.collecting(collector.nodeid)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if self.collection_fired and report.failed:
            entry = self.collection_fired.pop(report.nodeid, None)
            if entry is not None:
                gate_report.attach(report, _SECTION, entry)

    # -- verdict -----------------------------------------------------------------------------

    def pytest_gridgate_report(self, report: gate_report.GateReport, config: pytest.Config) -> None:
        # Collection timeouts that never reached a collect report (a conftest import).
        for entry in self.collection_fired.values():
            report.add(_SECTION, entry)
        timeouts = report.sections.get(_SECTION, [])
        details = [f"TIMEOUT {explain_timeout(entry)}" for entry in timeouts]
        problems = []
        if timeouts:
            problems.append(f"{len(timeouts)} timed out")
        if self.budget is not None and self.budget.expired():
            not_run = self.budget.not_run(config)
            problems.append(
                f"session budget of {self.settings.session:g}s (timeouts.session) spent; "
                f"{not_run} test{'s' if not_run != 1 else ''} not run"
            )
            details.append(f"SESSION {problems[-1]}")
        if problems:
            report.add_verdict("timeouts", False, "; ".join(problems), details)
        else:
            report.add_verdict("timeouts", True, self._describe_settings())

    def _describe_settings(self) -> str:
        """What applies to a test without a ``timeout`` marker, and where it comes from:
        pytest-timeout's own settings win over ``timeouts.default``."""
        if _timeout_plugin(self.config) is None:
            parts = ["no per-test timeouts: pytest-timeout is not loaded"]
        else:
            seconds = getattr(self.config, "_env_timeout", None) or 0
            if seconds:
                parts = [f"timeout {seconds:g}s from {self.applies}"]
            else:
                parts = [f"no per-test timeout ({self.applies} is 0)"]
        if self.settings.session:
            parts.append(f"session {self.settings.session:g}s")
        return "no test timed out (" + ", ".join(parts) + ")"


class TimedOutReports:
    """Marks the reports of timed-out tests; registered only once a test timed out here
    (or on the xdist controller), so that passing tests pay for none of its hooks."""

    def __init__(self, gate: TimeoutGate) -> None:
        self.gate = gate
        self.registered = False

    def register(self) -> None:
        if not self.registered:
            self.registered = True
            self.gate.config.pluginmanager.register(self, "gridgate-timed-out-reports")

    @pytest.hookimpl(tryfirst=True)  # before xdist serialises the report for the controller
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # pytest-rerunfailures logs a failed attempt it will run again as outcome "rerun":
        # that attempt timed out all the same, and its entry belongs to its report.
        outcome: str = report.outcome  # "rerun" is not among pytest's own outcomes
        if not self.gate.fired or not (report.failed or outcome == "rerun"):
            return
        entry = self.gate.fired.pop(report.nodeid, None)
        if entry is None:
            return
        entry["phase"] = report.when
        gate_report.attach(report, _SECTION, entry)
        report.sections.append(("gridgate timeout", explain_timeout(entry)))

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(
        self, report: pytest.TestReport | pytest.CollectReport
    ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
        # A timeout is its own verdict in the progress output, still counted as a failure.
        if report.failed and any(s == _SECTION for s, _ in gate_report.attached(report)):
            # Setup, teardown and collection stay errors, as pytest counts them; xdist's
            # report for a lost worker says when="???": that test failed.
            category = "failed" if report.when in ("call", "???") else "error"
            return category, "T", ("TIMEOUT", {"red": True})
        return None


class SessionBudget:
    """Stops starting tests once ``timeouts.session`` seconds of the run are spent.

    Checked after each test by the timer's cancel call when every test has a timer (no
    extra hook), else by :class:`BudgetAfterEachTest`.
    """

    def __init__(self, seconds: float, started: float, role: str) -> None:
        self.seconds = seconds
        self.started = started
        self.deadline = started + seconds
        # Under xdist each worker stops itself (the budget runs from the controller's
        # start) and the controller only counts what was not run.
        self.worker = role == "worker"
        self.controller = role == "controller"
        self.stopped_with: int | None = None
        self.session: pytest.Session | None = None

    def expired(self) -> bool:
        if self.controller:
            return time.time() >= self.deadline
        return self.stopped_with is not None

    def check(self, nodeid: str) -> None:
        if time.time() < self.deadline or self.controller or self.stopped_with is not None:
            return
        session = self.session
        if session is None:
            return
        done = next((i for i, it in enumerate(session.items) if it.nodeid == nodeid), -1) + 1
        self.stopped_with = len(session.items) - done
        spent = f"gridgate: session budget of {self.seconds:g}s (timeouts.session) spent"
        if self.worker:  # its items are every test, not its share: the controller counts
            session.shouldfail = f"{spent}; this worker stops"
        else:
            plural = "s" if self.stopped_with != 1 else ""
            session.shouldfail = f"{spent}; {self.stopped_with} test{plural} not run"

    def not_run(self, config: pytest.Config) -> int:
        if not self.worker and not self.controller and self.stopped_with is not None:
            return self.stopped_with
        # The xdist controller: tests collected minus tests that reported.
        terminal = config.pluginmanager.get_plugin("terminalreporter")
        if terminal is None or self.session is None:
            return 0
        ran = {
            getattr(r, "nodeid", None)
            for reports in terminal.stats.values()
            for r in reports
            if isinstance(r, pytest.TestReport)
        }
        return max(self.session.testscollected - len(ran), 0)


class BudgetAfterEachTest:
    """Checks the session budget after each test when tests may run without a timer."""

    def __init__(self, budget: SessionBudget) -> None:
        self.budget = budget

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self.budget.check(nodeid)


class SkipHungModules:
    """On an xdist worker started in place of one killed while importing a module: that
    module is not imported again (the controller reported it as a collection error)."""

    def __init__(self, modules: list[str]) -> None:
        self.modules = frozenset(modules)

    @pytest.hookimpl(tryfirst=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Any:
        if collector.nodeid in self.modules:
            return pytest.CollectReport(collector.nodeid, "passed", None, [])
        return None


def _hung_collect_report(entry: dict[str, Any]) -> pytest.CollectReport:
    """The collection error of a module whose import hung until stage two ended the process
    (the report it never made), with its timeout attached."""
    where = entry.get("where") or "C code holding the GIL"
    message = (
        f"CollectionTimeout: gridgate: collection ran past timeouts.collection = "
        f"{entry['seconds']:g}s; stuck at {where}; the process was ended"
    )
    report = pytest.CollectReport(
        entry["nodeid"], "failed", f"{explain_timeout(entry)}\nE   {message}", []
    )
    gate_report.attach(report, _SECTION, entry)
    return report


class BadMarkers:
    """Fails, at setup, each test whose ``timeout`` marker pytest-timeout cannot read."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        problem = self.problems.get(item.nodeid)
        if problem is not None:
            pytest.fail(f"{item.nodeid}: {problem}", pytrace=False)


def _dump_other_threads(config: pytest.Config) -> None:
    current = threading.get_ident()
    names = {t.ident: t.name for t in threading.enumerate()}
    frames = [
        (ident, frame)
        for ident, frame in sys._current_frames().items()
        if ident != current and not names.get(ident, "").startswith("gridgate-")
    ]
    if not frames:
        return
    terminal = config.get_terminal_writer()
    terminal.sep("+", title="Timeout")
    for ident, frame in frames:
        terminal.sep("~", title=f"Stack of {names.get(ident, '<unknown>')} ({ident})")
        terminal.write("".join(traceback.format_stack(frame)))
    terminal.sep("+", title="Timeout")


def _marker_args(marker: pytest.Mark) -> str:
    args = [repr(a) for a in marker.args] + [f"{k}={v!r}" for k, v in marker.kwargs.items()]
    return f"({', '.join(args)})"
