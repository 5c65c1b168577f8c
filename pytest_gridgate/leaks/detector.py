"""The leaks gate's per-session plugin: baselines, fixture attribution, verdicts, cleanup.

Imported (and registered) by :mod:`pytest_gridgate.leaks` only when ``leaks.action`` is not
``off``, so that a run without leak checks pays nothing for them.
"""

from __future__ import annotations

import functools
import operator
import time
import weakref
from collections.abc import Callable, Generator, Hashable, Iterable, Set
from typing import Any

import pytest

from pytest_gridgate._compat import (
    fixture_defs,
    has_unittest_items,
    terminal_column,
    test_case_object,
)
from pytest_gridgate.leaks import CHECK_ERRORS, MARKER, SECTION, garbage, tracking
from pytest_gridgate.leaks.asyncio_loops import AsyncioCheck
from pytest_gridgate.leaks.base import KIND_TO_CHECK, Leak, LeakCheck
from pytest_gridgate.leaks.cwd import CwdCheck
from pytest_gridgate.leaks.environ import EnvironCheck
from pytest_gridgate.leaks.fds import FdCheck, pytest_cache_dir
from pytest_gridgate.leaks.groups import SESSION_OWNER, describe_origin, describe_owner
from pytest_gridgate.leaks.holders import fds_held_from
from pytest_gridgate.leaks.processes import ProcessCheck
from pytest_gridgate.leaks.signals import SignalCheck
from pytest_gridgate.leaks.threads import ThreadCheck
from pytest_gridgate.per_test import per_test
from pytest_gridgate.report import get_report
from pytest_gridgate.settings.leaks import LeakSettings
from pytest_gridgate.teardown_verdict import TeardownVerdict, warn_on_item

__all__ = ["GridgateLeakWarning", "LeakDetector", "build_checks"]

_WORKEROUTPUT_KEY = "gridgate_leaks"


def _call_with(function: Any, *args: Any) -> Any:  # operator.call before Python 3.11
    return function(*args)


# Calls each of a sequence of functions from C (``map``): the per-test loop over the
# checks runs without a Python frame of its own.
_call: Any = getattr(operator, "call", _call_with)
# The snapshot of a check that failed to take one: it is not compared.
_NO_SNAPSHOT = object()
_NOTHING: frozenset[Hashable] = frozenset()
_thread_start_count = tracking.thread_start_count


def _any_still_there(leaks: list[Leak]) -> bool:
    """Whether a pending leak is known to be still there; False when one cannot tell."""
    probes = [leak.still_there for leak in leaks if leak.pending]
    if None in probes:
        return False  # that check must compare again to tell
    return any(probe() for probe in probes if probe is not None)


class GridgateLeakWarning(pytest.PytestWarning):
    """A test or fixture leaked a resource (``leaks.action = "warn"``)."""


def build_checks(config: pytest.Config, settings: LeakSettings) -> list[LeakCheck]:
    """The built-in checks that ``leaks.checks`` enables, in a fixed order."""
    enabled = set(settings.checks)
    checks: list[LeakCheck] = []
    if "threads" in enabled:
        checks.append(ThreadCheck(settings.ignore.threads))
    if enabled & {"processes", "zombies"}:
        checks.append(
            ProcessCheck(
                processes="processes" in enabled,
                zombies="zombies" in enabled,
                kill=settings.kill,
                ignore=settings.ignore.processes,
            )
        )
    # asyncio before fds: a loop left open and current is reported once, as current.
    if "asyncio" in enabled:
        checks.append(AsyncioCheck())
    if "fds" in enabled:
        checks.append(FdCheck(settings.ignore.fds, pytest_cache_dir(config)))
    if "environ" in enabled:
        checks.append(EnvironCheck(settings.ignore.environ))
    if "cwd" in enabled:
        checks.append(CwdCheck())
    if "signals" in enabled:
        # pytest-timeout arms SIGALRM around each test (gridgate's timeouts build on it).
        checks.append(SignalCheck(include_sigalrm=not config.pluginmanager.has_plugin("timeout")))
    return checks


class _FixtureState:
    """A higher-scoped fixture: the state before its setup and the resources it owns.

    ``finalizing``: the state when its finalization began (before its teardown code ran),
    so that what its teardown leaves behind (``made``) is told apart from the test's own.
    """

    __slots__ = ("baseline", "finalizing", "made", "name", "owned")

    def __init__(self, name: str, baseline: list[Any], owned: set[Hashable]) -> None:
        self.name, self.baseline, self.owned = name, baseline, owned
        self.finalizing: list[Any] | None = None
        self.made: set[Hashable] = set()


class _Found:
    __slots__ = ("fixture", "leak", "nodeid")

    def __init__(self, nodeid: str, leak: Leak, fixture: str | None = None) -> None:
        # Always a test id: the leaking test, or the test during which a fixture that
        # owns the resource was finalized (then ``fixture`` names it).
        self.nodeid = nodeid
        self.fixture = fixture
        self.leak = leak


def _fixture_nodeid(fixturedef: pytest.FixtureDef[Any]) -> str:
    return f"{fixturedef.baseid}::{fixturedef.argname}" if fixturedef.baseid else fixturedef.argname


def _allowed_checks(item: pytest.Item) -> set[str] | None:
    """Check names and kinds the ``gridgate_allow_leaks`` marker allows; None: none."""
    allowed: set[str] = set()
    found = False
    for mark in item.iter_markers(MARKER):
        found = True
        allowed.update(mark.args or ("*",))
    return allowed if found else None


def _is_allowed(leak: Leak, allowed: set[str] | None) -> bool:
    if allowed is None:
        return False
    return "*" in allowed or leak.kind in allowed or KIND_TO_CHECK.get(leak.kind) in allowed


class LeakDetector:
    """The per-session plugin object: baselines, fixture attribution, verdicts, cleanup."""

    def __init__(self, config: pytest.Config, settings: LeakSettings) -> None:
        tracking.install()  # before the checks read the state it keeps
        self.config = config
        self.settings = settings
        self.checks: list[LeakCheck] = build_checks(config, settings)
        self._baseline: list[Any] = []
        self._item: pytest.Item | None = None
        # Resources created by higher-scoped fixtures set up during the current test.
        self._excused: frozenset[Hashable] = _NOTHING
        self._fixtures: dict[pytest.FixtureDef[Any], _FixtureState] = {}
        self._finalized: list[_FixtureState] = []
        self._higher_scoped_args: dict[pytest.FixtureDef[Any], tuple[str, ...]] = {}
        # Everything already reported or allowed, never blamed twice.
        self._accounted: set[Hashable] = set()
        self._reported: set[Hashable] = set()
        # What a test was allowed to leave behind, by the test: still running when the
        # session ends, it is reported against that test.
        self._allowed_in: dict[Hashable, str] = {}
        # Who each reported resource was blamed on (test id, fixture): what it makes later
        # (a leaked thread restarting a process the gate killed) is blamed on them too.
        self._owners: dict[Hashable, tuple[str, str | None]] = {}
        # The last test that ran (None: the session), its id read only when needed: an
        # item's node id is a property that builds its string in Python.
        self._last_test: pytest.Item | None = None
        # Threads started between two tests (after one's check, before the next's baseline)
        # are seen by no test: by start numbers (after, up to), the earlier test's.
        self._threads_at_end = 0
        self._between: list[tuple[int, int, str]] = []
        self.session_failed = False
        # Entries whose cleanup waits for the end of the session (_entries), with it.
        self._deferred: list[tuple[dict[str, Any], Any]] = []
        self._broken: list[str] = []  # errors of checks, reported with the next test
        # The unittest object of the test being torn down (weakly), where suites have them.
        self._notes_test_objects = False
        self.test_object: weakref.ref[Any] | None = None
        self._partition()

    # ------------------------------------------------------------------ measuring

    def _snapshot(self) -> list[Any]:
        """Every check's snapshot. Equal snapshots before and after a test are the cheap
        verdict of nearly every test: nothing leaked, no check is asked to compare.

        (Inlined in the two per-test hooks, which fall back to :meth:`_snapshot_each` when
        a check raised.)
        """
        try:
            return list(map(_call, self._snapshots))
        except Exception:
            return self._snapshot_each()

    def _snapshot_each(self) -> list[Any]:
        """Every check's snapshot, one by one: a check that raises is recorded as broken."""
        return [self._snapshot_of(check) for check in self.checks]

    def _snapshot_of(self, check: LeakCheck) -> Any:
        try:
            return check.snapshot()
        except Exception as exc:  # a broken check must not take the run down
            self._broken.append(f"leak check {check.name!r} failed: {exc!r}")
            return _NO_SNAPSHOT

    def _findings(
        self, baseline: list[Any], excluded: Set[Hashable], only: list[int] | None = None
    ) -> list[Leak]:
        checks = self.checks
        leaks: list[Leak] = []
        for index in range(len(checks)) if only is None else only:
            check, before = checks[index], baseline[index]
            if before is _NO_SNAPSHOT:
                continue
            try:
                found = check.compare(before)
            except Exception as exc:  # a broken check must not take the run down
                self._broken.append(f"leak check {check.name!r} failed: {exc!r}")
                continue
            for leak in found:
                if leak.key in excluded or any(leak.key == other.key for other in leaks):
                    continue
                leaks.append(leak)
        # Before any grace period: a fixture's thread's new thread is not pending for us.
        return self._made_by_fixtures(leaks) if leaks else leaks

    def _settled(self, baseline: list[Any], excluded: Set[Hashable]) -> list[Leak]:
        """Findings after the grace period, which only runs while something is pending.

        Checks whose findings may still resolve on their own (threads, processes: they
        declare ``may_pend``) run first. If they found something pending, only they are
        asked again while waiting, with a growing interval; every check then runs once at
        the end, when the pending things are settled (a descriptor check may collect
        garbage: it should do so once, not on every poll).
        """
        first = self._may_pend
        leaks = self._findings(baseline, excluded, first)
        if any(leak.pending for leak in leaks):
            deadline = time.monotonic() + self.settings.grace
            interval = 0.005
            while (remaining := deadline - time.monotonic()) > 0:
                time.sleep(min(interval, remaining))
                interval = min(interval * 2, 0.05)
                # While one of them is still there, comparing again would find it pending
                # again: a syscall tells (a leaked thread's restart chain made every test
                # of watchdog's suite list and describe its children on every poll).
                if _any_still_there(leaks):
                    continue
                leaks = self._findings(baseline, excluded, first)
                if not any(leak.pending for leak in leaks):
                    break
            return self._findings(baseline, excluded)
        if not leaks:
            return self._findings(baseline, excluded, self._rest)
        return leaks + self._findings(baseline, excluded | {leak.key for leak in leaks}, self._rest)

    # ------------------------------------------------------------------ hooks

    def _partition(self) -> None:
        self._may_pend = [i for i, c in enumerate(self.checks) if getattr(c, "may_pend", False)]
        self._rest = [i for i in range(len(self.checks)) if i not in self._may_pend]
        self._snapshots = tuple(check.snapshot for check in self.checks)
        # A check may take its snapshot before a test more cheaply (LeakCheck.baseline).
        self._baselines = tuple(getattr(c, "baseline", c.snapshot) for c in self.checks)
        self._asks_released = [c for c in self.checks if hasattr(c, "released_fds")]

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        for extra in self.config.hook.pytest_gridgate_leak_checks(config=self.config):
            self.checks.extend(extra or ())
        self._partition()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # pytest drops a unittest test's object at its teardown, and what it holds goes
        # with it, unless another plugin keeps the object (see _released_fds): noted (weakly)
        # before the teardown, for the suites that have such tests, which then cost one
        # call more per test. Finding it afterwards took a walk of the whole heap.
        if not self._notes_test_objects and has_unittest_items(session.items):
            self._notes_test_objects = True
            per_test(self.config).before_teardown(self._note_test_object)

    def _note_test_object(self, item: pytest.Item) -> None:
        found = test_case_object(item)
        self.test_object = weakref.ref(found) if found is not None else None

    # The baseline is taken first in the first plain setup hook (after the wrappers of
    # capture and logging, which change nothing checked here, and before any fixture
    # runs), and the comparison made last by the outermost teardown wrapper: after every
    # teardown hook and finalizer, gridgate's own env restoration included, and before the
    # teardown report is made: pytest_gridgate.per_test's outermost bracket, two hook
    # calls per test (shared with the other gates that work on every test).
    def before_test(self, item: pytest.Item) -> None:
        self._item = item
        self._excused = _NOTHING
        if (started := _thread_start_count()) != self._threads_at_end:
            if self._last_test is not None:
                self._between.append((self._threads_at_end, started, self._last_test.nodeid))
            self._threads_at_end = started
        try:
            self._baseline = list(map(_call, self._baselines))
        except Exception:
            self._baseline = self._snapshot_each()

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, object, object]:
        owners = None
        if fixturedef.scope == "function":
            owners = self._delegates_of(fixturedef, request)
            if not owners:
                return (yield)
        before = self._snapshot()
        try:
            return (yield)
        finally:
            owned = {leak.key for leak in self._findings(before, set())}
            self._excused = self._excused | owned
            if owners is not None:
                # Owned jointly: checked when the last of them is finalized.
                for owner in owners:
                    owner.owned |= owned
            else:
                state = self._fixtures[fixturedef] = _FixtureState(
                    _fixture_nodeid(fixturedef), before, owned
                )
                # Finalizers run last in, first out: this one runs before the fixture's
                # own teardown code, which registered itself during the setup.
                fixturedef.addfinalizer(functools.partial(self._finalizing, state))

    @property
    def _last_nodeid(self) -> str:
        """The id of the last test that ran (none: the session's owner)."""
        return self._last_test.nodeid if self._last_test is not None else SESSION_OWNER

    def _finalizing(self, state: _FixtureState) -> None:
        state.finalizing = self._snapshot()

    def _delegates_of(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> list[_FixtureState]:
        """The higher-scoped fixtures a function-scoped one may create resources for.

        A function-scoped fixture that requests a higher-scoped one often starts things on
        its behalf (``group.makegateway()`` into a session-scoped ``group``, a connection
        kept in a module-scoped pool): those belong to the higher-scoped fixture, which
        must have released them by the time it is finalized.
        """
        names = self._higher_scoped_args.get(fixturedef)
        if names is None:
            active = fixture_defs(request)
            names = self._higher_scoped_args[fixturedef] = tuple(
                name
                for name in fixturedef.argnames
                if name in active and active[name].scope != "function"
            )
        if not names:
            return []
        active = fixture_defs(request)
        states = [self._fixtures.get(active.get(name)) for name in names]  # type: ignore[arg-type]
        return [state for state in states if state is not None]

    def pytest_fixture_post_finalizer(self, fixturedef: pytest.FixtureDef[Any]) -> None:
        state = self._fixtures.pop(fixturedef, None)
        if state is None:
            return
        before, state.finalizing = state.finalizing, None
        if before is not None and self._snapshot() != before:
            # What its teardown left behind is the fixture's, not the test's during
            # whose teardown it ran: kept from the test's check, found by the fixture's.
            state.made = {leak.key for leak in self._findings(before, set())}
            self._excused = self._excused | state.made
        self._finalized.append(state)

    def after_test(self, item: pytest.Item) -> None:
        """Once the test's whole teardown is over, even when it raised."""
        if item is self._item:  # else its setup hook never ran: no baseline
            self._item = None
            self._last_test = item
            baseline, self._baseline = self._baseline, []
            try:
                after = list(map(_call, self._snapshots))
            except Exception:
                after = self._snapshot_each()
            # Nearly every test ends here: nothing to attribute, report or clean up.
            if baseline != after or self._finalized or self._broken:
                self._check(item, baseline)
            self.test_object = None
            self._threads_at_end = _thread_start_count()

    def _check(self, item: pytest.Item, baseline: list[Any]) -> None:
        found: list[_Found] = []
        test_keys: set[Hashable] = set()
        # One garbage collection, before any check judges, when a check wants it: every
        # check sees what it released (leaks/garbage.py). Its finalizers' errors are
        # reported on this test, at the end: the leaks are on its report first.
        # A check that weighs a full collection may ask what the test's released unittest
        # object holds (not the test's either way): only then is that object looked for.
        released = functools.partial(_released_fds, item, self.test_object)
        for check in self._asks_released:
            check.released_fds = released
        try:
            collected = garbage.collect_for(
                (check, before)
                for check, before in zip(self.checks, baseline, strict=False)
                if before is not _NO_SNAPSHOT
            )
        finally:
            for check in self._asks_released:
                check.released_fds = None
        if leaks := self._settled(baseline, self._excused):
            leaks, dropped = _without_released(leaks, released)
            test_keys.update(leak.key for leak in dropped)  # nobody's: not a fixture's
            leaks = self._without_inherited(leaks)
            allowed = _allowed_checks(item)
            for leak in leaks:
                test_keys.add(leak.key)
                if not _is_allowed(leak, allowed):
                    found.append(_Found(item.nodeid, leak))
                else:
                    self._allowed_in[leak.key] = item.nodeid
            self._accounted |= test_keys
        if self._finalized:
            found.extend(self._check_finalized(test_keys | self._accounted, item.nodeid))
        if found or self._broken:
            self._report(found, item)
        if collected:
            garbage.report_unraisable(self.config)

    def _without_inherited(self, leaks: list[Leak]) -> list[Leak]:
        """``leaks`` without those made by a resource already blamed on an earlier test or
        allowed to it: reported on that test (without failing the one being checked), or
        allowed with it.

        A thread a test left running goes on working during later tests: an auto-restart
        thread starts the process again each time the gate kills it (watchdog's suite).
        Blaming each later test would make one cause a cascade of innocent failures.
        """
        kept, inherited = [], []
        for leak in leaks:
            heir = self._heir(leak.parent) if leak.parent is not None else None
            if heir is None:
                kept.append(leak)
            elif heir[2]:
                self._allowed_in[leak.key] = heir[0]
                self._accounted.add(leak.key)
            else:
                inherited.append(_Found(heir[0], leak, heir[1]))
        if inherited:
            self._add_session_entries(self._entries(inherited, defer=True), announce=False)
        return kept

    def _heir(self, parent: Hashable) -> tuple[str, str | None, bool] | None:
        """Who is blamed for what ``parent`` made, as (test id, fixture, allowed): the test
        blamed for it or for the nearest of the threads that started it, or allowed to
        leave it, or the test before the gap in which one of them started; else None.

        A restart chain (a watcher thread starting a process and its successor, which
        does the same, some links between two tests where no test sees them) is one
        cause on one test: watchdog's AutoRestartTrick.
        """
        chain = tracking.lineage(parent) or [(parent, 0)]
        # An ancestor already blamed or allowed first, however far up: a link that started
        # between two later tests is still its chain's (watchdog's suite named 16 findings
        # after the test before such a gap). The gaps only for a chain no test was blamed for.
        for key, _ in chain:
            if key in self._owners:
                return (*self._owners[key], False)
            if key in self._allowed_in:
                return self._allowed_in[key], None, True
        for _, number in chain:
            for after, up_to, nodeid in self._between:
                if after < number <= up_to:
                    return nodeid, None, False
        return None

    def _made_by_fixtures(self, leaks: list[Leak]) -> list[Leak]:
        """``leaks`` without those made by a resource a higher-scoped fixture owns.

        A fixture's thread that starts another thread after the fixture's setup returned
        (a dispatcher starting its workers) made that thread for the fixture: it joins the
        fixture's resources, checked when the fixture is finalized.
        """
        if not any(leak.parent is not None for leak in leaks):
            return leaks
        states = [*self._fixtures.values(), *self._finalized]
        kept = []
        for leak in leaks:
            owner = next((s for s in states if leak.parent in s.owned), None)
            if owner is None:
                kept.append(leak)
            else:
                owner.owned.add(leak.key)
        return kept

    # ------------------------------------------------------------------ verdicts

    def _check_finalized(self, excluded: Set[Hashable], nodeid: str) -> list[_Found]:
        """Leaks of the fixtures finalized since the last check, reported in ``nodeid``
        (the test during whose teardown they were finalized) with the fixture's name."""
        found = []
        finalized, self._finalized = self._finalized, []
        excluded = set(excluded)
        # Innermost first (finalization order): a resource is blamed on one fixture only,
        # and never on another than the one whose setup or teardown made it.
        for state in finalized:
            others = [*self._fixtures.values(), *(s for s in finalized if s is not state)]
            theirs = set().union(*(other.owned | other.made for other in others))
            # One garbage collection before judging, as for a test (leaks/garbage.py).
            garbage.collect_for(zip(self.checks, state.baseline, strict=False))
            leaks = self._settled(state.baseline, excluded | theirs)
            excluded.update(leak.key for leak in leaks)
            # What a chain blamed on an earlier test made during the fixture's teardown (or
            # its check) is that test's, as in a test's own check: watchdog's restart chain
            # failed the last test in the name of tmp_path_factory.
            for leak in self._without_inherited(leaks):
                found.append(_Found(nodeid, leak, state.name))
        return found

    def _entries(self, found: Iterable[_Found], defer: bool = False) -> list[dict[str, Any]]:
        """The report entries of ``found``, cleaned up now, or (``defer``) at the end of
        the session: what a thread blamed on an earlier test made would only be made again
        (watchdog's leaked restart chain started its process again after every kill, once
        per later test: a fork of the pytest process each time, and its output in the
        next test's captured output)."""
        entries = []
        for each in found:
            leak = each.leak
            self._accounted.add(leak.key)
            self._reported.add(leak.key)
            self._owners[leak.key] = (each.nodeid, each.fixture)
            entry = {
                "nodeid": each.nodeid,
                "kind": leak.kind,
                "detail": leak.detail,
                "action": self.settings.action,
                "cleaned": False,
                "fixture": each.fixture,
                "origin": leak.origin,
            }
            # Cleanup comes after the finding is recorded, so it is reported as it was.
            if leak.cleanup is not None and defer:
                self._deferred.append((entry, leak.cleanup))
            elif leak.cleanup is not None:
                try:
                    entry["cleaned"] = bool(leak.cleanup())
                except Exception:  # cleanup is best effort; the finding stands
                    entry["cleaned"] = False
            entries.append(entry)
        return entries

    def _report(self, found: list[_Found], item: pytest.Item) -> None:
        entries = self._entries(found)
        text = "\n".join([_describe(entries, item.nodeid), *self._broken]).strip()
        # A check that could not run leaves the gate unable to pass (leaks/__init__.py).
        errors = [{"nodeid": item.nodeid, "message": message} for message in self._broken]
        self._broken = []
        if self.settings.action != "fail":
            warn_on_item(item, GridgateLeakWarning(text))
        findings = [(SECTION, entry) for entry in entries]
        findings += [(CHECK_ERRORS, error) for error in errors]
        TeardownVerdict(
            self.config, item, "leaks", findings, text, fail=self.settings.action == "fail"
        )

    # ------------------------------------------------------------------ end of session

    def _leftovers(self) -> list[Leak]:
        """What still runs at the end of the session, and was not reported already."""
        leaks: list[Leak] = []
        for check in self.checks:
            if (isinstance(check, ProcessCheck) and check.processes) or isinstance(
                check, ThreadCheck
            ):
                leaks.extend(leak for leak in check.alive() if leak.key not in self._reported)
        return leaks

    def _let_interpreter_exit(self) -> None:
        """The interpreter must not wait at exit for a thread the gate judged leaked: the
        report is written, and the run would hang forever on a thread that never ends."""
        for check in self.checks:
            if isinstance(check, ThreadCheck):
                stuck = check.release(self._reported)
                if stuck:
                    self._warn_session(
                        f"gridgate: cannot keep the interpreter from waiting at exit for "
                        f"leaked thread(s) {', '.join(map(repr, stuck))}"
                    )

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        if not _is_xdist_controller(self.config):
            # Fixtures finalized outside any test (an interrupted run), then what is
            # still running after the last test: it would outlive or hang the session.
            # Entries name the last test that ran (or the test that was allowed to leave
            # it), with the fixture, or the session, as the owner.
            found = self._check_finalized(self._accounted, self._last_nodeid)
            self._clean_deferred()
            leftovers = self._leftovers()
            if leftovers:
                # As after a test: garbage that owns a child (pexpect's spawn in a cycle)
                # stops it when collected, which comes before the verdict.
                garbage.collect_all()
                leftovers = self._leftovers()
            deadline = time.monotonic() + self.settings.grace
            while any(leak.pending for leak in leftovers) and time.monotonic() < deadline:
                time.sleep(0.01)
                leftovers = self._leftovers()
            found.extend(
                _Found(self._leftover_owner(leak), leak, SESSION_OWNER) for leak in leftovers
            )
            entries = self._entries(found)
            if entries:
                self._add_session_entries(entries)
            self._let_interpreter_exit()
        # Before the yield: the gate report is written by a plain sessionfinish hook and
        # must see the final exit status. Under xdist the workers' session-end leaks have
        # arrived through pytest_testnodedown by now, during the run loop.
        if self.session_failed and self.settings.action == "fail" and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        yield

    def _clean_deferred(self) -> None:
        """The cleanups deferred by _entries, now: their entries say whether they could."""
        deferred, self._deferred = self._deferred, []
        for entry, cleanup in deferred:
            try:
                entry["cleaned"] = bool(cleanup())
            except Exception:  # cleanup is best effort; the finding stands
                entry["cleaned"] = False

    def _leftover_owner(self, leak: Leak) -> str:
        """The test a resource still running at the end of the session is named with: the
        one allowed to leave it, the one blamed for what made it, else the last test."""
        if leak.key in self._allowed_in:
            return self._allowed_in[leak.key]
        heir = self._heir(leak.parent) if leak.parent is not None else None
        return heir[0] if heir is not None else self._last_nodeid

    def _add_session_entries(self, entries: list[dict[str, Any]], announce: bool = True) -> None:
        """Entries on no test's report: in the gate report (the xdist controller's, through
        the worker's output); ``announce``: and in the terminal."""
        self.session_failed = True
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput.setdefault(_WORKEROUTPUT_KEY, []).extend(entries)
        else:
            report = get_report(self.config)
            for entry in entries:
                report.add(SECTION, entry)
        if workeroutput is None and announce:
            self._warn_session(_describe(entries, None))

    def _warn_session(self, text: str) -> None:
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None:
            # On a line of its own, also after the progress dots of ``-q``, which the
            # terminal reporter's own ensure_newline() does not know about.
            terminal.ensure_newline()
            if terminal_column(terminal):
                terminal.write("\n")
            terminal.write_line(text, yellow=True)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        entries = getattr(node, "workeroutput", {}).get(_WORKEROUTPUT_KEY, ())
        if entries:
            self._add_session_entries(list(entries))


def _released_fds(item: pytest.Item, noted: weakref.ref[Any] | None) -> set[int]:
    """The descriptors held from the test's ``unittest.TestCase`` object (``noted`` before
    its teardown) once pytest has let go of it: what the object holds goes when it goes, as
    soon as whoever still keeps it (the ``flaky`` plugin, until the test's protocol ends)
    lets go too. Not the test's leak; without that plugin it would be collected."""
    found = noted() if noted is not None else None
    if found is None or test_case_object(item) is found:  # gone, or still the item's
        return set()
    return fds_held_from([found])


def _without_released(
    leaks: list[Leak], released: Callable[[], set[int]]
) -> tuple[list[Leak], list[Leak]]:
    """``leaks`` without (and with) the descriptors ``released()`` names."""
    if all(_fd_of(leak) is None for leak in leaks):
        return leaks, []
    held = released()
    if not held:
        return leaks, []
    kept: list[Leak] = []
    dropped: list[Leak] = []
    for leak in leaks:
        (dropped if _fd_of(leak) in held else kept).append(leak)
    return kept, dropped


def _fd_of(leak: Leak) -> int | None:
    """The descriptor of an fd check's finding (its key: ``("fd", fd, target)``)."""
    key = leak.key
    return key[1] if type(key) is tuple and key[0] == "fd" else None


def _is_xdist_controller(config: pytest.Config) -> bool:
    return config.pluginmanager.get_plugin("dsession") is not None


def _describe(entries: list[dict[str, Any]], where: str | None) -> str:
    if not entries:
        return ""
    place = where if where is not None else "the session"
    lines = [f"gridgate: leaked resources in {place} (leaks.action = {entries[0]['action']}):"]
    for entry in entries:
        own = entry["nodeid"] == where and not entry.get("fixture")
        owner = "" if own else f"{describe_owner(entry, where)}: "
        cleaned = " [cleaned up]" if entry["cleaned"] else ""
        origin = describe_origin(entry)
        lines.append(f"  {owner}{entry['kind']}: {entry['detail']}{origin}{cleaned}")
    return "\n".join(lines)
