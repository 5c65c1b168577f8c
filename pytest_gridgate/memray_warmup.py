"""Beside pytest-memray: its tracker's process-wide pipe is opened before the first test.

memray's native tracker opens a pipe pair the first time a ``Tracker`` starts and keeps it
for the life of the process. pytest-memray starts one around each tracked test, so the
first tracked test of every process seemed to leak two descriptors ("pipe, no Python
object holds it"). One empty tracker started and stopped at session start opens that pipe
while it is the session's, not a test's.

Registered only where pytest-memray is loaded and leak checks are on; memray is imported
only then.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import tempfile

import pytest

from pytest_gridgate.config import get_config


@pytest.hookimpl(tryfirst=True)  # before any test's baseline
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if not config.pluginmanager.has_plugin("memray") or get_config(config).leaks.action == "off":
        return
    with contextlib.suppress(Exception):  # best effort: a warm-up must not stop a run
        memray = importlib.import_module("memray")  # an optional neighbour: not typed here
        with (
            tempfile.TemporaryDirectory(prefix="gridgate-memray-") as directory,
            memray.Tracker(os.path.join(directory, "warmup.bin")),
        ):
            pass
