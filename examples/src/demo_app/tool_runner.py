"""Runs plugins and records their metrics (scanner demo: GG007)."""

from __future__ import annotations

from typing import Any, Protocol


class Plugin(Protocol):
    def run(self, job: str) -> Any: ...


class ToolRunner:
    def __init__(self, plugin: Plugin) -> None:
        self.plugin = plugin
        self.runs = 0

    def run(self, job: str) -> Any:  # GG007: metrics are skipped when the plugin raises
        result = self.plugin.run(job)  # allowed here: this file is in allow_in
        self.update_execution_metrics()
        return result

    def update_execution_metrics(self) -> None:
        self.runs += 1
