"""gridgate's pytest entry point (``pytest11: gridgate``).

Only wiring: each gate is a plugin module of its own, in the manner of pytest's
``_pytest`` package, and is registered here. ``-p no:gridgate`` skips this module and so
every gate with it.
"""

from __future__ import annotations

import importlib

import pytest

# Registered by pytest_addhooks below rather than through ``pytest_plugins``: pytest 9
# looks every ``pytest_plugins`` entry up among all installed entry points first, which
# costs several milliseconds per entry on every run.
GATES = [
    "pytest_gridgate.config",
    "pytest_gridgate.neighbours",
    "pytest_gridgate.env",
    "pytest_gridgate.collection",
    "pytest_gridgate.shard",
    "pytest_gridgate.ports",
    "pytest_gridgate.timeouts",
    "pytest_gridgate.rerun_attempts",
    "pytest_gridgate.memray_warmup",
    "pytest_gridgate.leaks",
    "pytest_gridgate.memory",
    "pytest_gridgate.failures",
    "pytest_gridgate.flaky",
    "pytest_gridgate.quarantine",
    "pytest_gridgate.hard_exit",
    "pytest_gridgate.history.plugin",
    "pytest_gridgate.report",
]


def _skip_assertion_rewriting(pluginmanager: pytest.PytestPluginManager) -> None:
    """Import the gates with Python's own loader, not pytest's assertion rewriter.

    pytest rewrites the asserts of every module of a distribution that provides a plugin,
    so that a plugin's fixtures fail with helpful messages. gridgate's modules assert
    nothing for users, and the rewriter costs every run: it re-hashes each source and
    reads its own bytecode cache slowly, and where bytecode is not written (read-only
    site-packages, ``PYTHONDONTWRITEBYTECODE=1`` in CI images) it parses and rewrites every
    module again. There is no public way to opt a package out, hence the guarded lookup.
    """
    from pytest_gridgate._compat import skip_assertion_rewriting

    skip_assertion_rewriting(pluginmanager, __name__.partition(".")[0])


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    _skip_assertion_rewriting(pluginmanager)
    from pytest_gridgate import hookspecs

    pluginmanager.add_hookspecs(hookspecs)
    for name in GATES:
        # A gate blocked with ``-p no:pytest_gridgate.NAME`` stays unregistered; one
        # already loaded with ``-p pytest_gridgate.NAME`` is not registered twice.
        if not pluginmanager.is_blocked(name) and pluginmanager.get_plugin(name) is None:
            pluginmanager.register(importlib.import_module(name), name)
