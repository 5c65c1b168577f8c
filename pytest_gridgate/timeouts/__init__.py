"""Timeouts gate: per-test timeouts that never hang CI, built on pytest-timeout.

* Defaults (:mod:`.defaults`): ``timeouts.default`` and ``timeouts.markers`` are fed to
  pytest-timeout as its own settings (its global timeout, or a ``timeout`` marker on the
  item), so a test costs exactly what plain pytest-timeout costs. Precedence, first wins:
  ``@pytest.mark.timeout``, ``--timeout`` / ``PYTEST_TIMEOUT``, ``timeouts.markers``, the
  ``timeout`` ini option, ``timeouts.default``.
* Stage one (:mod:`.stage_one`) is pytest-timeout's signal method: the test fails, the run
  goes on. We install the SIGALRM handler ourselves (pytest-timeout's
  ``pytest_timeout_set_timer`` hook) so that it first notes where the test was stuck
  (:mod:`.stuck`) and kills the children the test started, then fails the test as
  pytest-timeout's ``timeout_sigalrm`` does.
* Stage two (:mod:`.stage_two`) ends the process ``kill_after`` seconds later if the test
  is still running: the watchdog thread (:mod:`.watchdog`), or, when C code holds the GIL,
  the supervisor (:mod:`.supervisor`, a shell loop, ``watcher.sh``) and its take-over
  (:mod:`.takeover`). The report names the test either way.
* ``timeouts.session`` (:mod:`.budget`) stops starting tests when the run's budget is
  spent; ``timeouts.collection`` (:mod:`.collection_clock`) bounds everything from plugin
  start to the end of collection.
* Under xdist (:mod:`.crashes`) a killed worker leaves a record, and the controller names
  the test or module it was killed for.
* The ``timeouts`` report section and verdict: :mod:`.verdict`.

This module is the gate's plugin (``pytest_gridgate.timeouts`` in ``plugin.GATES``); the
gate itself, :class:`~.gate.TimeoutGate`, is registered as ``gridgate-timeouts``.
"""

from __future__ import annotations

import pytest

from pytest_gridgate.timeouts.gate import GATE_KEY, TimeoutGate
from pytest_gridgate.timeouts.reports import SECTION

__all__ = ["TimeoutGate"]


def pytest_gridgate_report_sections(config: pytest.Config) -> list[str]:
    return [SECTION]  # in every report, empty when nothing timed out


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # The earliest point a plugin's hook runs: the collection clock starts here so that
    # conftest imports are bounded too.
    gate = TimeoutGate(early_config)
    early_config.stash[GATE_KEY] = gate
    early_config.pluginmanager.register(gate, "gridgate-timeouts")
    gate.start()
