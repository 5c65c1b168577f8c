"""What the gates do around every test, called from one hook implementation per phase.

pluggy charges every implementation of a hook on every call: some 4,000 machine
instructions for a plain one, twice that for a wrapper, more than most gates' own work on
a test that passes. A trivial test calls the setup and teardown hooks once each and the
report hook three times, so a hook of its own for each gate was most of gridgate's cost per
test. The gates that work on every test (leaks, memory, failures, shard) therefore register
no per-test hooks: each adds its functions here, when it is on, and this module registers
one implementation per phase that calls them, only for a phase some gate added to.

Below the gates (like ``categories``): it knows no gate, and no gate imports another
through it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import pytest

__all__ = ["PerTest", "per_test"]

_KEY: pytest.StashKey[PerTest] = pytest.StashKey()

ItemCall = Callable[[pytest.Item], Any]
ReportCall = Callable[[pytest.TestReport], Any]


class _Setup:
    """The first plain ``pytest_runtest_setup`` hook (after capture's and logging's
    wrappers, before any fixture)."""

    def __init__(self, calls: list[ItemCall]) -> None:
        self.calls = calls

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        for call in self.calls:
            call(item)


class _LastTeardown:
    """The last plain ``pytest_runtest_teardown`` hook: after pytest's own, which runs
    every finalizer. When a hook before it raises (a finalizer did), it does not run."""

    def __init__(self, calls: list[ItemCall]) -> None:
        self.calls = calls

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        for call in self.calls:
            call(item)


class _AroundTeardown:
    """The outermost ``pytest_runtest_teardown`` wrapper. ``before``: before any teardown
    hook; ``last``: as :class:`_LastTeardown` (once every teardown hook returned);
    ``after``: once the whole teardown is over, its wrappers included, even when it
    raised."""

    def __init__(self, before: list[ItemCall], last: list[ItemCall], after: list[ItemCall]) -> None:
        self.before, self.last, self.after = before, last, after

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, object, object]:
        for call in self.before:
            call(item)
        try:
            result = yield
            for call in self.last:
                call(item)
            return result
        finally:
            for call in self.after:
                call(item)


class _Reports:
    """The first ``pytest_runtest_logreport`` hook: before pytest-xdist's worker sends the
    report to the controller, and before the terminal shows it."""

    def __init__(self, calls: list[ReportCall]) -> None:
        self.calls = calls

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for call in self.calls:
            call(report)


class PerTest:
    """One pytest configuration's per-test functions, and the hook objects that call them.

    ``around(before_setup, after_teardown, outermost=)``: a gate that brackets every test.
    Outermost brackets (the leak check, which must see everything the test's teardown
    undid, gridgate's own variables included) take their baseline first and check once the
    whole teardown is over, even when it raised; the others (the memory meter) start after
    them and end as the last plain teardown hook, not when a teardown hook raised.
    ``each_report(call)``: ``call(report)`` for every test report, before anyone else.
    ``before_teardown(call)``: ``call(item)`` before any teardown hook runs (what the
    test's setup made is all still there).
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._outer_setup: list[ItemCall] = []
        self._inner_setup: list[ItemCall] = []
        self._setup: list[ItemCall] = []
        self._last: list[ItemCall] = []
        self._after: list[ItemCall] = []
        self._before_teardown: list[ItemCall] = []
        self._reports: list[ReportCall] = []
        self._plugins: dict[str, object] = {}

    def around(
        self,
        before_setup: ItemCall | None,
        after_teardown: ItemCall | None,
        *,
        outermost: bool = False,
    ) -> None:
        if before_setup is not None:
            (self._outer_setup if outermost else self._inner_setup).append(before_setup)
            # Outermost first: in place, the list the hook object holds.
            self._setup[:] = [*self._outer_setup, *self._inner_setup]
        if after_teardown is not None:
            (self._after if outermost else self._last).append(after_teardown)
        self._sync()

    def before_teardown(self, call: ItemCall) -> None:
        self._before_teardown.append(call)
        self._sync()

    def each_report(self, call: ReportCall) -> None:
        self._reports.append(call)
        self._sync()

    def _sync(self) -> None:
        """Register the hook objects that have functions to call, and only those: a
        teardown wrapper only when an outermost bracket or a call before the teardown needs
        one (a plain hook costs half as much)."""
        wanted: dict[str, object] = {}
        if self._setup:
            wanted["setup"] = self._plugins.get("setup") or _Setup(self._setup)
        if self._after or self._before_teardown:
            around = self._plugins.get("around-teardown")
            wanted["around-teardown"] = around or _AroundTeardown(
                self._before_teardown, self._last, self._after
            )
        elif self._last:
            wanted["last-teardown"] = self._plugins.get("last-teardown") or _LastTeardown(
                self._last
            )
        if self._reports:
            wanted["reports"] = self._plugins.get("reports") or _Reports(self._reports)
        manager = self.config.pluginmanager
        for name, plugin in self._plugins.items():
            if wanted.get(name) is not plugin:
                manager.unregister(plugin)
        for name, plugin in wanted.items():
            if self._plugins.get(name) is not plugin:
                manager.register(plugin, f"gridgate-per-test-{name}")
        self._plugins = wanted

    def close(self) -> None:
        """Unregister every hook object (the configuration is over)."""
        for plugin in self._plugins.values():
            self.config.pluginmanager.unregister(plugin)
        self._plugins = {}


def per_test(config: pytest.Config) -> PerTest:
    """This configuration's :class:`PerTest` (made on first use)."""
    hooks = config.stash.get(_KEY, None)
    if hooks is None:
        hooks = config.stash[_KEY] = PerTest(config)
        config.add_cleanup(hooks.close)
    return hooks
