"""A pytest plugin for ``overhead_phases.py``: the CPU time of each phase of one run.

Loaded with ``-p phase_clock`` (this directory on ``PYTHONPATH``): pytest imports a ``-p``
plugin before it loads the installed ones, gridgate among them, so the first mark is taken
before any of gridgate's code runs. Each mark is the process's CPU time (user + system,
``time.process_time``) at a point of the run; the garbage collector's time is added up per
phase (``gc.callbacks``). At exit the marks are written as one JSON object to the file
named by ``PHASE_CLOCK_FILE``.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import time
from typing import Any

import pytest

#: The marks in the order a run passes them; a phase ends at its mark.
MARKS = ("startup", "configure", "collection", "tests", "end", "exit")

_marks: dict[str, float] = {}
_gc_seconds: dict[str, float] = {}
_gc_started = [0.0]
_tests = [0]


def _phase() -> str:
    """The phase running now: the first whose mark is not taken yet."""
    return next((name for name in MARKS if name not in _marks), MARKS[-1])


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _gc_started[0] = time.process_time()
    else:
        now = _phase()
        _gc_seconds[now] = _gc_seconds.get(now, 0.0) + time.process_time() - _gc_started[0]


def _mark(name: str) -> None:
    _marks.setdefault(name, time.process_time())


gc.callbacks.append(_on_gc)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    _mark("startup")  # interpreter, pytest, plugins loaded, configuration read


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> None:
    _mark("configure")  # every pytest_configure and pytest_sessionstart


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    _tests[0] = len(session.items)
    _mark("collection")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    _mark("tests")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    _mark("end")  # sessionfinish, the terminal summary, every pytest_unconfigure


def _write() -> None:
    # Registered at import, so it runs after every later atexit handler (last in, first
    # out) and after pytest's own cleanups (which collect garbage).
    _mark("exit")
    path = os.environ.get("PHASE_CLOCK_FILE")
    if path:
        # Whole or not at all: written beside, then renamed over the file.
        partial = f"{path}.partial"
        with open(partial, "w", encoding="utf-8") as file:
            json.dump({"marks": _marks, "gc": _gc_seconds, "tests": _tests[0]}, file)
        os.replace(partial, path)


atexit.register(_write)
