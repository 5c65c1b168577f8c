"""gridgate's pytest entry point (``pytest11: gridgate``).

Only wiring: each gate is a plugin module of its own, in the manner of pytest's
``_pytest`` package, and is registered here. ``-p no:gridgate`` skips this module and so
every gate with it.
"""

from __future__ import annotations

import pytest

pytest_plugins = [
    "pytest_gridgate.settings",
    "pytest_gridgate.env",
    "pytest_gridgate.collection",
    "pytest_gridgate.timeouts",
    "pytest_gridgate.leaks",
    "pytest_gridgate.report",
]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_gridgate import hookspecs

    pluginmanager.add_hookspecs(hookspecs)
