"""``timeouts.default`` and ``timeouts.markers``, fed to pytest-timeout as its own settings.

A test costs exactly what plain pytest-timeout costs: the default becomes pytest-timeout's
global timeout, and a marker's default a ``timeout`` marker on the item. pytest-timeout's
own options win (``--timeout``, ``PYTEST_TIMEOUT``, the ini option), and a test's own
``@pytest.mark.timeout`` wins over everything. A marker pytest-timeout cannot read fails
its test at setup, instead of an INTERNALERROR for the whole session.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

from pytest_gridgate import _compat
from pytest_gridgate.markers import any_marker, marked_items

if TYPE_CHECKING:
    from pytest_gridgate.timeouts.run import TimeoutRun


def timeout_plugin(config: pytest.Config) -> Any:
    """pytest-timeout's plugin, or None under ``-p no:timeout``."""
    return config.pluginmanager.get_plugin("timeout")


class Defaults:
    """Registered (as ``gridgate-timeout-defaults``) only where pytest-timeout is loaded."""

    def __init__(self, run: TimeoutRun) -> None:
        self.run = run
        self.settings = run.settings
        self.config: pytest.Config | None = None
        self.marker_defaults: dict[str, float] = {}

    def feed_pytest_timeout(self, config: pytest.Config) -> None:
        self.config = config
        if config.getoption("timeout") is not None:
            self.run.applies = "--timeout"
        elif os.environ.get("PYTEST_TIMEOUT"):
            self.run.applies = "PYTEST_TIMEOUT"
        else:
            self.marker_defaults = dict(self.settings.markers)
            if config.getini("timeout"):
                self.run.applies = "the timeout ini option"
            elif self.settings.default:
                _compat.set_default_timeout(config, self.settings.default)

    def every_test_has_a_timer(self) -> bool:
        """Whether pytest-timeout arms a timer for a test without a marker."""
        return self.config is not None and bool(_compat.default_timeout(self.config))

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        bad: dict[str, str] = {}
        for item in marked_items(items, any_marker):
            # keywords first: a few dict lookups up the tree, cheaper than iter_markers.
            marker = item.get_closest_marker("timeout") if "timeout" in item.keywords else None
            if marker is not None:
                try:
                    seconds = _compat.timeout_settings(item, marker).timeout
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
            config.pluginmanager.register(BadMarkers(bad), "gridgate-bad-timeout-markers")


class BadMarkers:
    """Fails, at setup, each test whose ``timeout`` marker pytest-timeout cannot read."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        problem = self.problems.get(item.nodeid)
        if problem is not None:
            pytest.fail(f"{item.nodeid}: {problem}", pytrace=False)


def _marker_args(marker: pytest.Mark) -> str:
    args = [repr(a) for a in marker.args] + [f"{k}={v!r}" for k, v in marker.kwargs.items()]
    return f"({', '.join(args)})"
