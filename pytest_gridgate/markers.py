"""Finding the few marked tests among many, once per run.

Gates that act on a marker (``gridgate_env``, ``timeout`` and ``timeouts.markers``) look
for it once, after collection, rather than in a hook for every test. A marker on a class,
module or package applies to every test below it, so each collector is looked at once and
its answer reused by all its tests, in the order pytest collected them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from _pytest.nodes import Node


def marked_items(
    items: Sequence[pytest.Item], wanted: Callable[[pytest.Mark], bool]
) -> list[pytest.Item]:
    """The items that carry a ``wanted`` marker themselves or through a parent collector."""
    inherited: dict[Node, bool] = {}

    def carries(node: Node | None) -> bool:
        if node is None:
            return False
        if node not in inherited:
            inherited[node] = any(map(wanted, node.own_markers)) or carries(node.parent)
        return inherited[node]

    found = []
    parent: Node | None = None
    parent_carries = False
    for item in items:
        # Tests of one collector come one after another: one lookup per collector.
        if item.parent is not parent:
            parent = item.parent
            parent_carries = carries(parent)
        if parent_carries or (item.own_markers and any(map(wanted, item.own_markers))):
            found.append(item)
    return found


def any_marker(mark: pytest.Mark) -> bool:
    return True
