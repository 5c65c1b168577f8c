"""``[tool.gridgate.collection]``: the collection gate's settings (``collection.py``)."""

from __future__ import annotations

from typing import NamedTuple

from pytest_gridgate.settings.declare import NumberRange, section


class CollectionSettings(NamedTuple):
    min_tests: int = 1


section(
    "collection",
    CollectionSettings,
    doc="The collection gate (`pytest_gridgate/collection.py`).",
    keys={
        "min_tests": (
            "",
            "",
            "fewer tests collected (before deselection) fails the gate with exit 2; 0 disables",
        )
    },
    ranges={"min_tests": NumberRange(0, 1_000_000_000)},
)
