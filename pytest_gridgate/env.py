"""Environment defaults: ``[tool.gridgate.env]``, ``[tool.gridgate.env_force]`` and the
``gridgate_env`` marker.

The defaults are applied in ``pytest_load_initial_conftests``, before any conftest.py is
imported, so module-level code in conftests and test modules sees them. A variable that is
already set keeps its value ("kept"), unless it is in ``env_force`` ("applied" either way).
The active profile's ``env`` is already merged into ``env`` by the config loader.

Under pytest-xdist the controller applies the defaults and the workers inherit
``os.environ`` from it: execnet starts them after the controller's initial conftests. A
worker must not apply them again, or every ``env`` name would look "kept". It recognises
its situation by ``PYTEST_XDIST_WORKER`` (set by xdist before the worker's config exists)
together with a marker naming its parent process as the one that applied them; a pytest
run nested inside a worker (pytester) has a different parent and applies its own.

Values are never reported or printed, only names.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Mapping, MutableMapping

import pytest

from pytest_gridgate.applied_env import APPLIED_KEY, AppliedEnv
from pytest_gridgate.config import get_config
from pytest_gridgate.markers import marked_items
from pytest_gridgate.report import GateReport, get_report
from pytest_gridgate.settings import GridgateConfig, env_name_problem

# pid of the process that applied the defaults; a worker checks it against its parent.
APPLIED_BY = "_GRIDGATE_ENV_APPLIED_BY"
MARKER = "gridgate_env"


def apply_defaults(settings: GridgateConfig, environ: MutableMapping[str, str]) -> AppliedEnv:
    """Set ``env`` names that are unset and every ``env_force`` name in ``environ``."""
    result = AppliedEnv()
    for name, value in settings.env.items():
        if name in settings.env_force:
            continue
        if name in environ:
            result.kept.append(name)
            continue
        result.previous[name] = None
        environ[name] = value
        result.applied.append(name)
    for name, value in settings.env_force.items():
        result.previous[name] = environ.get(name)
        environ[name] = value
        result.applied.append(name)
    return result


def set_values(values: Mapping[str, str | None], environ: MutableMapping[str, str]) -> None:
    """Set each variable, or unset it where the value is None (to apply or to undo)."""
    for name, value in values.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value


def inherited_from_controller(environ: Mapping[str, str]) -> bool:
    """True in an xdist worker whose controller has already applied the defaults."""
    return "PYTEST_XDIST_WORKER" in environ and environ.get(APPLIED_BY) == str(os.getppid())


def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # settings' tryfirst implementation has validated the config; conftests come after us.
    if inherited_from_controller(os.environ):
        # A plugin that sets variables at start-up (pytest-env) does so again in each worker,
        # over what the worker inherited: forced names are forced again (reported once, by
        # the controller).
        set_values(get_config(early_config).env_force, os.environ)
        return
    applied = apply_defaults(get_config(early_config), os.environ)
    applied.previous.setdefault(APPLIED_BY, os.environ.get(APPLIED_BY))
    os.environ[APPLIED_BY] = str(os.getpid())
    early_config.stash[APPLIED_KEY] = applied
    report = get_report(early_config)
    report.env["applied"] = sorted(applied.applied)
    report.env["kept"] = sorted(applied.kept)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(NAME='value', ...): set environment variables for one test and restore "
        "them after it (a None value unsets the variable)",
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    # The marker is looked up once per run, here, and the per-test plugin registered only
    # when some test uses it: a suite without it pays nothing per test. Each collector
    # (class, module, directory) is looked at once, not once per test.
    marked = {
        item: _marker_env(item)
        for item in marked_items(session.items, lambda mark: mark.name == MARKER)
    }
    if marked:
        session.config.pluginmanager.register(EnvMarker(marked), "gridgate-env-marker")


def _marker_env(item: pytest.Item) -> dict[str, str | None] | str:
    """The variables a test's ``gridgate_env`` markers set, or a problem description."""
    values: dict[str, str | None] = {}
    # Farthest first, so a function's marker overrides its class's and module's.
    for mark in reversed(list(item.iter_markers(MARKER))):
        if mark.args:
            return f"{MARKER} takes NAME='value' keyword arguments, got {mark.args!r}"
        for name, value in mark.kwargs.items():
            if value is not None and not isinstance(value, str):
                return f"{MARKER}: {name} must be a string or None, got {type(value).__name__}"
            problem = env_name_problem(name)
            if problem is not None:
                return f"{MARKER}: {name!r}: {problem}"
            if value is not None and "\0" in value:
                return f"{MARKER}: {name}: the value contains a NUL character"
            values[name] = value
    return values


class EnvMarker:
    """Sets a marked test's variables before its fixtures, restores them at its teardown."""

    def __init__(self, marked: dict[pytest.Item, dict[str, str | None] | str]) -> None:
        self.marked = marked
        self.previous: dict[str, str | None] = {}

    # Not tryfirst: the leak checks' tryfirst setup hook must take its baseline before the
    # marker changes anything (else restoring the marker looks like a leak). A plain hook
    # registered this late still runs before pytest's own setup, so fixtures see the values.
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        values = self.marked.get(item)
        if values is None:
            return
        if isinstance(values, str):
            pytest.fail(values, pytrace=False)
        self.previous = {name: os.environ.get(name) for name in values}
        set_values(values, os.environ)

    # A class-, module- or session-scoped fixture set up during a marked test outlives it:
    # it is set up without the test's variables, as it would be under monkeypatch.setenv
    # (the leak checks' fixture baseline then holds no per-test value either, which
    # reported the marker's restoration as that fixture's leak and "cleaned" it by setting
    # the variable again; found with pytest-django's autouse class-scoped fixture).
    # Registered after the leak detector, so this wrapper runs outside its snapshots.
    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[object]
    ) -> Generator[None, object, object]:
        if not self.previous or fixturedef.scope == "function":
            return (yield)
        marked = {name: os.environ.get(name) for name in self.previous}
        set_values(self.previous, os.environ)
        try:
            return (yield)
        finally:
            set_values(marked, os.environ)

    # Undone last, around every other teardown: set before the fixtures, the variables are
    # restored after them (a fixture's monkeypatch.setenv of a marked name undoes to the
    # marker's value, which must not outlive the test). The ``finally`` runs even when a
    # finaliser fails, and before the teardown report, when the leak checks compare.
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, None, None]:
        try:
            return (yield)
        finally:
            if self.previous:
                set_values(self.previous, os.environ)
                self.previous = {}


def pytest_unconfigure(config: pytest.Config) -> None:
    # Undo the defaults, so a second in-process session (pytester) starts clean.
    applied = config.stash.get(APPLIED_KEY, None)
    if applied is not None:
        set_values(applied.previous, os.environ)


def pytest_gridgate_report(report: GateReport, config: pytest.Config) -> None:
    settings = get_config(config)
    if not settings.env and not settings.env_force:
        return
    applied, kept = report.env["applied"], report.env["kept"]
    summary = f"{len(applied)} applied, {len(kept)} kept (already set)"
    details = [f"applied: {_names(applied)}"] if applied else []
    details += [f"kept: {_names(kept)}"] if kept else []
    report.add_verdict("env", True, summary, details)


def _names(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"
