"""The interface every leak check implements (built-in or from ``pytest_gridgate_leak_checks``)."""

from __future__ import annotations

from typing import Any, Protocol


class LeakCheck(Protocol):
    """Take a cheap snapshot before a test, compare after it, clean up what leaked."""

    name: str

    def snapshot(self) -> Any: ...

    def compare(self, before: Any) -> list[Any]: ...
