"""``[tool.gridgate.history]``: the trend gate's settings (``pytest_gridgate.history``)."""

from __future__ import annotations

from typing import NamedTuple

from pytest_gridgate.settings.declare import NumberRange, section


class HistorySettings(NamedTuple):
    """The trend gate of ``gridgate history add`` (docs/history.md)."""

    file: str = ".gridgate/history.jsonl"
    # More vanished tests than this fails: a count when 1 or more, a share of the tests
    # collected before when under 1. 2 lets a renamed test or two pass and catches a lost
    # module of three tests or more.
    max_vanished: float = 2
    max_duration_increase: float = 0.25  # over the median wall time of the window
    window: int = 10  # earlier runs of the branch the medians are taken over
    max_flaky_increase: float = 0.01  # flaky share of the tests run, over the window's median
    max_leak_increase: int = 0  # leaks, over the window's median
    default_branch: str = "main"  # whose history a branch without one is compared with


section(
    "history",
    HistorySettings,
    doc="The suite history's trend gate (`pytest_gridgate/history/`, docs/history.md).",
    keys={
        "file": (
            "path (from the current directory; option `--history` of `gridgate history`)",
            '`".gridgate/history.jsonl"`',
            "the history, one JSON line per run",
        ),
        "max_vanished": (
            "number: a count of tests when 1 or more, a share of the tests collected "
            "before when under 1",
            "",
            "vanished tests allowed",
        ),
        "max_duration_increase": ("", "", "share over the window's median wall time"),
        "window": ("", "", "earlier runs of the branch the medians are taken over"),
        "max_flaky_increase": ("", "", "flaky share points over the window's median"),
        "max_leak_increase": ("", "", "leaks over the window's median"),
        "default_branch": ("", "", "whose history a branch without one is compared with"),
    },
    ranges={
        "max_vanished": NumberRange(0, 1_000_000_000),
        "max_duration_increase": NumberRange(0, 1000),
        "window": NumberRange(1, 10_000),
        "max_flaky_increase": NumberRange(0, 1),
        "max_leak_increase": NumberRange(0, 1_000_000_000),
    },
)
