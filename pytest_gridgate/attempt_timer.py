"""A per-test timeout armed again for one more attempt of a test in the same protocol.

pytest-timeout arms its timer once, around the whole runtest protocol; a plugin that runs
several attempts inside it (pytest-rerunfailures, gridgate's own reruns) arms each attempt
after the first again, with the test's own settings. Shared by
:mod:`pytest_gridgate.rerun_attempts` and :mod:`pytest_gridgate.flaky.reruns`, so that
neither gate imports the other.
"""

from __future__ import annotations

import pytest


def arm_again(item: pytest.Item) -> None:
    """Arm the test's own per-test timeout again, for one more attempt in one protocol."""
    if not item.config.pluginmanager.has_plugin("timeout"):
        return
    from pytest_gridgate._compat import timeout_settings

    settings = timeout_settings(item)
    if not settings.timeout or settings.timeout <= 0 or settings.func_only:
        return  # no timer, or pytest-timeout arms one around each call already
    hook = item.config.hook
    hook.pytest_timeout_cancel_timer(item=item)
    hook.pytest_timeout_set_timer(item=item, settings=settings)
