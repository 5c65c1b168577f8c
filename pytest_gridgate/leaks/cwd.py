"""``cwd``: the working directory a test changed and did not change back.

The snapshot is the directory that ``os.chdir`` and ``os.fchdir`` last moved to, kept by
:mod:`pytest_gridgate.leaks.tracking`: no system call per test. The comparison reads the
real directory, so a change made around those functions is seen whenever it runs.
"""

from __future__ import annotations

import os
from typing import Any

from pytest_gridgate.leaks.base import Leak
from pytest_gridgate.leaks.tracking import current_cwd, read_cwd, site_of


def _chdir(path: str) -> bool:
    try:
        os.chdir(path)
    except OSError:
        return False
    return True


class CwdCheck:
    name = "cwd"

    snapshot = staticmethod(current_cwd)

    def compare(self, before: Any) -> list[Leak]:
        now = read_cwd()
        if now == before:
            return []
        detail = f"working directory changed from {before} to {now}"
        key = ("cwd",)
        return [Leak("cwd", key, detail, cleanup=lambda: _chdir(before), origin=site_of(key))]
