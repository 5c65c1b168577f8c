"""For inner runs (their conftest, by ``gated.inner("atexit_check.py", "conftest.py")``): a
third-party leak check, for atexit handlers, that cannot say where its resource was made."""

from __future__ import annotations

import atexit
from typing import Any

from pytest_gridgate.leaks.base import Leak


class AtexitCheck:
    name = "atexit"

    def snapshot(self) -> int:
        return atexit._ncallbacks()

    def compare(self, before: int) -> list[Leak]:
        added = atexit._ncallbacks() - before
        if added <= 0:
            return []
        return [Leak("atexit", ("atexit", before), f"{added} atexit handler(s) registered")]


def pytest_gridgate_leak_checks(config: Any) -> list[AtexitCheck]:
    return [AtexitCheck()]
