"""Persistence (scanner demo: GG010, `sqlite3` is in lazy_imports)."""

from __future__ import annotations

import sqlite3  # GG010: imported by everything that imports demo_app.storage


def connect(path: str) -> sqlite3.Connection:
    return sqlite3.connect(path)
