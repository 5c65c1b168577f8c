"""What applying ``[tool.gridgate.env]`` did: shared by the env gate, which applies it, and
the neighbours module, which says when another plugin's value won over it."""

from __future__ import annotations

import pytest

__all__ = ["APPLIED_KEY", "AppliedEnv"]


class AppliedEnv:
    """What applying the defaults did, and how to undo it.

    A plain class: generating a dataclass's methods costs every run start-up time.
    """

    def __init__(self) -> None:
        self.applied: list[str] = []
        self.kept: list[str] = []
        # name -> value before gridgate touched it (None: it was unset).
        self.previous: dict[str, str | None] = {}


# Set on the process that applied the variables (never an xdist worker).
APPLIED_KEY = pytest.StashKey[AppliedEnv]()
