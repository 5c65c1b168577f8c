"""``[tool.gridgate.timeouts]``: the timeouts gate's settings (``pytest_gridgate.timeouts``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from pytest_gridgate.settings.declare import DAY, EMPTY, NumberRange, section

# A duration that is not 0 is at least a millisecond: smaller ones round to 0 in a timer,
# which would silently mean "no timeout"; a huge one overflows ``setitimer``'s time_t.
_SECONDS = NumberRange(0.001, DAY, "seconds", off=True)


class TimeoutSettings(NamedTuple):
    default: float = 60.0
    markers: Mapping[str, float] = EMPTY
    session: float = 1800.0
    collection: float = 300.0
    kill_after: float = 5.0


section(
    "timeouts",
    TimeoutSettings,
    doc="Per-test, per-marker, collection and session timeouts (`pytest_gridgate/timeouts/`).",
    keys={
        "default": ("", "", "seconds per test; `@pytest.mark.timeout` wins"),
        "markers": ("table: marker → seconds", "", "per-marker defaults"),
        "session": ("", "", "the whole run's budget"),
        "collection": ("", "", "a watchdog from start until collection ends"),
        "kill_after": ("", "", "grace after the soft timeout before the hard kill"),
    },
    ranges={
        "default": _SECONDS,
        "markers.*": _SECONDS,
        "session": NumberRange(0.001, 7 * DAY, "seconds", off=True),
        "collection": _SECONDS,
        "kill_after": NumberRange(0, 3600, "seconds"),
    },
)
