"""Shared test setup.

The suite itself runs under xdist and maybe inside GitHub Actions; none of that may leak
into the pytest runs that the tests start (pytester, subprocesses), or gridgate inside them
would believe it is an xdist worker or write step summaries.
"""

from __future__ import annotations

import os

import pytest

_SCRUBBED_PREFIXES = ("PYTEST_XDIST_", "GRIDGATE_", "_GRIDGATE_", "GITHUB_")
_SCRUBBED_NAMES = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD", "CI")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(_SCRUBBED_PREFIXES) or name in _SCRUBBED_NAMES:
            monkeypatch.delenv(name)
