"""Which test or collector a stack belongs to: pytest's own frames, walked outwards.

Shared by the gates that must name what was running when the process was interrupted
from outside the test (the timeouts gate's stage two, ``os._exit`` caught by hard_exit).
"""

from __future__ import annotations

from types import FrameType

import pytest

__all__ = ["collector_of", "item_of"]


def item_of(frame: FrameType | None) -> pytest.Item | None:
    """The test being run: the ``item`` of pytest's ``runtestprotocol`` on the stack."""
    while frame is not None:
        candidate = frame.f_locals.get("item")
        if isinstance(candidate, pytest.Item):
            return candidate
        frame = frame.f_back
    return None


def collector_of(frame: FrameType | None, default: str) -> str:
    """The node id of the collector collecting on the stack, else ``default``."""
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, pytest.Collector):
            return candidate.nodeid
        frame = frame.f_back
    return default
