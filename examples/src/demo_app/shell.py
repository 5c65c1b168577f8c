"""Shelling out (scanner demo: GG005, GG006)."""

from __future__ import annotations

import subprocess


def disk_usage(path: str) -> str:
    # GG005 (shell=True) and GG006 (no timeout): a hung `du` hangs the caller forever.
    return subprocess.check_output(f"du -sh {path}", shell=True, text=True)
