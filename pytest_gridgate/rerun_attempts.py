"""Every attempt of a test rerun by pytest-rerunfailures gets its own per-test timeout.

pytest-timeout arms its timer once, around the whole runtest protocol; pytest-rerunfailures
runs every attempt inside that protocol. After an attempt timed out (the timer fired) the
next ran with no timer at all, so a test that hangs once hung its rerun for ever, and the
timed-out attempt's verdict was lost with its "rerun" report. Here each attempt after the
first is armed again with the test's own settings, before its setup; pytest-timeout's own
cancel call after the last attempt stands.

Registered only when pytest-rerunfailures is loaded: other runs pay nothing per test.
gridgate's own reruns (:mod:`pytest_gridgate.flaky.reruns`) arm each attempt the same way,
with :func:`pytest_gridgate.attempt_timer.arm_again`.
"""

from __future__ import annotations

import pytest

from pytest_gridgate.attempt_timer import arm_again


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.has_plugin("rerunfailures") and config.pluginmanager.has_plugin(
        "timeout"
    ):
        config.pluginmanager.register(TimerPerAttempt(), "gridgate-rerun-attempts")


class TimerPerAttempt:
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        # pytest-rerunfailures counts attempts on the item: 1 for the first.
        if getattr(item, "execution_count", 1) <= 1:
            return
        arm_again(item)
