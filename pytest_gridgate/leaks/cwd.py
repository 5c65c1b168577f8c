"""``cwd``: the working directory a test changed and did not change back."""

from __future__ import annotations

import os
from typing import Any

from pytest_gridgate.leaks.base import Leak


def _getcwd() -> str:
    try:
        return os.getcwd()
    except FileNotFoundError:  # the directory was removed under us
        return "<removed directory>"


def _chdir(path: str) -> bool:
    try:
        os.chdir(path)
    except OSError:
        return False
    return True


class CwdCheck:
    name = "cwd"

    snapshot = staticmethod(_getcwd)  # one call per test, not two

    def compare(self, before: Any) -> list[Leak]:
        now = _getcwd()
        if now == before:
            return []
        detail = f"working directory changed from {before} to {now}"
        return [Leak("cwd", ("cwd",), detail, cleanup=lambda: _chdir(before))]
