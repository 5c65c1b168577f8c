"""Neighbour plugins for the compatibility tests.

The normal suite does not install other plugins: loaded by every pytester run, they would
change what all the other tests see. A test that needs one gets it from ``installed``,
which puts the distribution on the inner runs' ``PYTHONPATH`` (entry points are found
there like any installed plugin's), pip-installed once per session into a directory of its
own. In a compatibility environment (``nox``), where the plugin is installed already,
that installation is used.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def _plugin_dirs() -> dict[str, Path]:
    return {}


@pytest.fixture
def installed(
    _plugin_dirs: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[str, str], None]:
    """``installed(requirement, module)``: the inner pytest runs have that plugin."""

    def install(requirement: str, module: str) -> None:
        if importlib.util.find_spec(module) is not None:
            return  # installed in this environment: pytester's subprocesses have it
        target = _plugin_dirs.get(requirement)
        if target is None:
            target = tmp_path_factory.mktemp("plugin")
            pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target"]
            done = subprocess.run(
                [*pip, str(target), requirement],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert done.returncode == 0, f"pip could not install {requirement}:\n{done.stderr}"
            _plugin_dirs[requirement] = target
        paths = [str(target), *filter(None, [os.environ.get("PYTHONPATH")])]
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))

    return install
