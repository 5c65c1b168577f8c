"""The leak gate's one garbage collection per test: before every check judges, and owned.

A file, a socket or a child process owned by an object that only a reference cycle keeps
alive is released when the garbage collector frees the cycle (``__del__`` closes it, or
stops the process, as pexpect's ``spawn`` does). Two rules follow:

* **One order for every check.** The collection runs once, before any check compares, and
  only when a check says garbage may hold something new (``wants_collection(before)``):
  the process check and the fd check then judge the same world, and an object that stops
  its child and closes its pipe in ``__del__`` gets one verdict, not a leaked process
  from one check and nothing from the other.
* **What it frees is the checked test's.** Finalizers that run in the collection may warn
  (``ResourceWarning: unclosed socket``); under ``filterwarnings = error`` the warning
  becomes an "unraisable" exception, which pytest collects at the end of each phase. The
  gate's collection runs after pytest's teardown hooks, so pytest would hand it to the
  *next* test's setup: an innocent test would error. :func:`report_unraisable` hands it
  to pytest while the checked test's teardown is still running, so it is reported there.

Cost: a young-generation collection first (fast: it only looks at objects made recently);
a full one only when a check still wants one after it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from typing import Any

import pytest

from pytest_gridgate._compat import collect_unraisable


def _wanted(pairs: list[tuple[Any, Any]]) -> bool:
    # Every check is asked (no short cut): a check may prepare its comparison meanwhile.
    wanted = False
    for wants, before in pairs:
        try:
            wanted = bool(wants(before)) or wanted
        except Exception:  # the check's compare() reports what is wrong with it
            continue
    return wanted


def collect_for(checks_and_baselines: Iterable[tuple[Any, Any]]) -> bool:
    """Collect garbage if any check wants it; True when a collection ran.

    ``wants_collection(before)`` decides the young generations' collection;
    ``wants_full_collection(before)``, where a check has it (else ``wants_collection``
    again), the full one after it.
    """
    checks = [
        (check, before)
        for check, before in checks_and_baselines
        if getattr(check, "wants_collection", None) is not None
    ]
    if not checks or not _wanted([(c.wants_collection, b) for c, b in checks]):
        return False
    gc.collect(1)
    full = [(getattr(c, "wants_full_collection", c.wants_collection), b) for c, b in checks]
    if _wanted(full):
        gc.collect()
    return True


def collect_all() -> None:
    """A full collection (the end of the session, when a child or thread is still there)."""
    gc.collect()


def report_unraisable(config: pytest.Config) -> None:
    """Report what the collection's finalizers raised, now, on the test being checked.

    pytest's own per-phase collector does it (a warning, or the test's error under
    ``-W error``); it is not public, so where it is missing (another pytest) nothing
    changes: pytest reports it with the next phase, as it would without gridgate.
    """
    collect_unraisable(config)  # pytest < 8.4, or -p no:unraisableexception: nothing
