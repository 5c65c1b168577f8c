"""Every attempt of a test rerun by pytest-rerunfailures gets its own per-test timeout.

pytest-timeout arms its timer once, around the whole runtest protocol; pytest-rerunfailures
runs every attempt inside that protocol. After an attempt timed out (the timer fired) the
next ran with no timer at all, so a test that hangs once hung its rerun for ever, and the
timed-out attempt's verdict was lost with its "rerun" report. Here each attempt after the
first is armed again with the test's own settings, before its setup; pytest-timeout's own
cancel call after the last attempt stands.

Registered only when pytest-rerunfailures is loaded: other runs pay nothing per test.
gridgate's own reruns (:mod:`pytest_gridgate.flaky.reruns`) call :func:`arm_again` before
each attempt after the first.
"""

from __future__ import annotations

import pytest


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


def arm_again(item: pytest.Item) -> None:
    """Arm the test's own per-test timeout again, for one more attempt in one protocol."""
    if not item.config.pluginmanager.has_plugin("timeout"):
        return
    import pytest_timeout  # type: ignore[import-untyped]

    settings = pytest_timeout._get_item_settings(item)
    if not settings.timeout or settings.timeout <= 0 or settings.func_only:
        return  # no timer, or pytest-timeout arms one around each call already
    hook = item.config.hook
    hook.pytest_timeout_cancel_timer(item=item)
    hook.pytest_timeout_set_timer(item=item, settings=settings)
