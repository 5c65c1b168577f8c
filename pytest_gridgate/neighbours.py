"""Other plugins installed beside gridgate whose settings and gridgate's cannot both hold.

A gate is installed into environments that already have plugins of their own. Most of them
and gridgate simply both work (``docs/compatibility.md``); a few decide the same thing
differently, and then one of the two silently wins:

* **pytest-env** (or any plugin setting variables at start-up) runs before gridgate's
  environment defaults, so a name it sets counts as "already set" and its value beats
  ``[tool.gridgate.env]``; ``env_force`` in turn overrides the plugin's value.
* **pytest-timeout's own options** (gridgate's timeouts are built on it): its ``timeout``
  ini option, ``--timeout`` or ``PYTEST_TIMEOUT`` replace ``timeouts.default`` (and the
  latter two ``timeouts.markers``); ``timeout_method = thread`` ends the whole run at the
  first timeout; ``timeout_func_only`` leaves fixtures unbounded; ``-p no:timeout`` leaves
  no per-test timeout at all.
* **pytest-rerunfailures' reruns**: a test that leaked or timed out is run again, and a
  clean later attempt passes the run although the leak stays in the report.

Each such case is found once at start-up, by what the plugins did or are set to do (never
by reading a variable's value), and said in one line at the start of the run and in the
gate report: a ``neighbours`` verdict and section. Nothing here changes what either plugin
does. Variable values are never read out, only names.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

from pytest_gridgate._compat import timeout_func_only, timeout_method
from pytest_gridgate.applied_env import APPLIED_KEY
from pytest_gridgate.config import get_config
from pytest_gridgate.report import GateReport

SECTION = "neighbours"
_FOUND_KEY = pytest.StashKey[list[dict[str, str]]]()
# Plugins (by their pytest11 entry-point name) that set environment variables at start-up.
ENV_SETTERS = {"env": "pytest-env", "dotenv": "pytest-dotenv"}


def _found(config: pytest.Config) -> list[dict[str, str]]:
    return config.stash.setdefault(_FOUND_KEY, [])


def _say(config: pytest.Config, name: str, plugin: Any, setting: str, message: str) -> None:
    _found(config).append(
        {
            "plugin": _distribution(config, plugin, name),
            "setting": setting,
            "message": message,
        }
    )


def _distribution(config: pytest.Config, plugin: Any, fallback: str) -> str:
    """``pytest-env 1.8.7``: the distribution that installed ``plugin``, with its version."""
    for each, dist in config.pluginmanager.list_plugin_distinfo():
        if each is plugin:
            return f"{dist.metadata['name']} {dist.version}"
    return fallback


def _is_worker(config: pytest.Config) -> bool:
    # Under xdist the controller detects and reports; workers inherit the same settings.
    return hasattr(config, "workerinput")


# -- environment defaults -----------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> Generator[None, None, None]:
    # Around every plugin's start-up hook (pytest-env's tryfirst one and gridgate's own env
    # defaults): which names were set before any of them ran. Values are compared, never
    # kept beyond this call or shown.
    before = dict(os.environ)
    result = yield
    if not _is_worker(early_config):
        _env_conflicts(early_config, before)
    return result


def _env_conflicts(config: pytest.Config, before: dict[str, str]) -> None:
    applied = config.stash.get(APPLIED_KEY, None)
    if applied is None:  # -p no:pytest_gridgate.env
        return
    settings = get_config(config)
    # "Kept" because some plugin set it during start-up, not because it was set before.
    beaten = sorted(name for name in applied.kept if name not in before)
    # Forced over a value a plugin had just set.
    overridden = sorted(
        name
        for name in settings.env_force
        if name in applied.previous and applied.previous[name] != before.get(name)
    )
    if not beaten and not overridden:
        return
    setters = [
        (name, plugin)
        for name, plugin in ((n, config.pluginmanager.get_plugin(n)) for n in ENV_SETTERS)
        if plugin is not None
    ]
    name, plugin = setters[0] if setters else ("another plugin", None)
    who = ENV_SETTERS.get(name, name)
    if beaten:
        _say(
            config,
            who,
            plugin,
            "[tool.gridgate.env]",
            f"{_names(beaten)} set by {who} before gridgate: its value wins over "
            "[tool.gridgate.env] (move the name to [tool.gridgate.env_force] for gridgate's, "
            f"or drop it from one of the two)",
        )
    if overridden:
        _say(
            config,
            who,
            plugin,
            "[tool.gridgate.env_force]",
            f"{_names(overridden)} set by {who}, then replaced by [tool.gridgate.env_force] "
            f"(drop it from one of the two)",
        )


def _names(names: list[str]) -> str:
    return ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")


# -- timeouts and reruns --------------------------------------------------------------------


@pytest.hookimpl(trylast=True)  # after pytest-timeout and pytest-rerunfailures configured
def pytest_configure(config: pytest.Config) -> None:
    if _is_worker(config):
        return
    _timeout_conflicts(config)
    _rerun_conflicts(config)


def _number(value: object) -> float:
    # pytest-timeout has refused a value that is no number before this runs; NaN never
    # equals a setting, so such a value would still be said, not raise.
    try:
        return float(str(value))
    except ValueError:
        return float("nan")


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _timeout_conflicts(config: pytest.Config) -> None:
    settings = get_config(config).timeouts
    plugin = config.pluginmanager.get_plugin("timeout")
    if plugin is None:
        if settings.default or settings.markers:
            _say(
                config,
                "pytest-timeout",
                None,
                "-p no:timeout",
                "pytest-timeout is switched off (-p no:timeout): no per-test timeouts, "
                "timeouts.default and timeouts.markers are not enforced",
            )
        return
    name = "pytest-timeout"
    option = config.getoption("timeout", None)
    from_env = os.environ.get("PYTEST_TIMEOUT", "").strip()
    ini = str(config.getini("timeout") or "").strip()
    if option is not None or from_env:
        where = f"--timeout={option:g}" if option is not None else "PYTEST_TIMEOUT"
        value = _number(option if option is not None else from_env)
        if value == 0:
            message = f"{where} switches per-test timeouts off (timeouts.default, timeouts.markers)"
        elif value != settings.default or settings.markers:
            replaced = "timeouts.default" + (" and timeouts.markers" if settings.markers else "")
            message = (
                f"{where} replaces {replaced} ({_seconds(settings.default)}): "
                f"every test gets {_seconds(value)}"
            )
        else:
            message = ""
        if message:
            _say(config, name, plugin, where, message)
    elif ini and _number(ini) != settings.default:
        _say(
            config,
            name,
            plugin,
            "timeout (ini)",
            f"ini option timeout = {ini} replaces timeouts.default "
            f"({_seconds(settings.default)}) (set one of the two)",
        )
    if timeout_method(config) == "thread":
        _say(
            config,
            name,
            plugin,
            "timeout_method = thread",
            "timeout_method = thread: a timed-out test ends the whole run instead of failing "
            "alone (gridgate's stage one needs the signal method)",
        )
    if timeout_func_only(config):
        _say(
            config,
            name,
            plugin,
            "timeout_func_only",
            "timeout_func_only = true: fixtures' setup and teardown run without a per-test timeout",
        )
    session: object = config.getoption("session_timeout", None)
    where = f"--session-timeout={_number(session):g}"
    if session is None:
        try:
            session = config.getini("session_timeout")
        except ValueError:  # a pytest-timeout without session timeouts
            session = None
        where = f"ini option session_timeout = {session}"
    seconds = _number(session) if session not in (None, "") else 0.0
    if seconds and settings.session:
        _say(
            config,
            name,
            plugin,
            "session_timeout",
            f"{where} and timeouts.session ({_seconds(settings.session)}) both bound the "
            "run: the shorter stops it",
        )


def _rerun_conflicts(config: pytest.Config) -> None:
    plugin = config.pluginmanager.get_plugin("rerunfailures")
    if plugin is None:
        return
    reruns = config.getoption("reruns", None)
    if reruns is None:
        try:
            reruns = int(str(config.getini("reruns") or 0))
        except (ValueError, TypeError):  # an older version without the ini option
            reruns = 0
    if not reruns:
        return
    _say(
        config,
        "pytest-rerunfailures",
        plugin,
        f"--reruns {reruns}",
        f"--reruns {reruns}: a test that leaks or times out runs again, and a clean later "
        "attempt passes the run; every attempt's leaks and timeouts stay in the report",
    )


# -- saying so ------------------------------------------------------------------------------


def _lines(config: pytest.Config) -> list[str]:
    return [f"gridgate: {each['plugin']}: {each['message']}" for each in _found(config)]


def pytest_report_header(config: pytest.Config) -> list[str]:
    # In the session header, shown unless -q; not under --collect-only, whose output
    # scripts parse and where no test runs (the report still has them).
    return [] if config.option.collectonly else _lines(config)


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    # Under -q there is no header: one line each all the same, but nothing under -qq or
    # --co -q, whose output scripts parse.
    if terminal is None or config.get_verbosity() != -1 or config.option.collectonly:
        return
    for line in _lines(config):
        terminal.write_line(line, yellow=True)


def pytest_gridgate_report(report: GateReport, config: pytest.Config) -> None:
    found = config.stash.get(_FOUND_KEY, [])
    if not found:
        return
    report.add_section(SECTION, found)
    report.add_verdict(
        SECTION,
        True,
        f"{len(found)} setting(s) of other plugins decide over gridgate's",
        [f"{each['plugin']}: {each['message']}" for each in found],
    )
