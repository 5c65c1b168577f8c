"""Batch jobs (scanner demo: GG003, GG004)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any


def run_all(plugins: Iterable[Any], job: str) -> None:
    for plugin in plugins:
        plugin.run(job)  # GG003: bypasses ToolRunner, so no metrics


def require_config(path: str | None) -> str:
    if path is None:
        sys.exit("no config")  # GG004: library code exits the whole process
    return path
