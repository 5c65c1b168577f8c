"""``[tool.gridgate.flaky]``: the flaky gate's settings (``pytest_gridgate.flaky``)."""

from __future__ import annotations

from typing import Literal, NamedTuple

from pytest_gridgate.settings.declare import DAY, NumberRange, section
from pytest_gridgate.settings.failures import FailureCategory


class FlakySettings(NamedTuple):
    reruns: int = 0
    # Not collection (nothing to run again), leak and memory (a rerun would hide a real
    # defect behind a clean attempt), crash (the process is gone; see docs/failures.md).
    rerun_categories: tuple[FailureCategory, ...] = (
        "assertion",
        "exception",
        "setup",
        "teardown",
        "timeout",
        "infra",
    )
    max_rate: float = 0.05
    action: Literal["warn", "fail"] = "warn"
    new_test_runs: int = 0
    new_test_budget: float = 300.0


section(
    "flaky",
    FlakySettings,
    doc="Reruns, flaky tests and new-test repeats (`pytest_gridgate/flaky/`, docs/failures.md).",
    keys={
        "reruns": ("", "", "how often a failed test runs again"),
        "rerun_categories": (
            "list of failure categories",
            '`["assertion", "exception", "setup", "teardown", "timeout", "infra"]`',
            "which failures are worth a rerun",
        ),
        "max_rate": ("", "", "flaky tests over tests run; above it the gate fails"),
        "action": ("", "", "whether any flaky test fails the gate"),
        "new_test_runs": (
            "",
            "",
            "how often a test with no history runs (known tests: `--gridgate-known PATH` "
            "or the durations file)",
        ),
        "new_test_budget": ("", "", "seconds of new-test repeats per process"),
    },
    ranges={
        "reruns": NumberRange(0, 10),
        "max_rate": NumberRange(0, 1),
        "new_test_runs": NumberRange(0, 100),
        "new_test_budget": NumberRange(0.001, DAY, "seconds", off=True),
    },
    options={
        "gridgate_reruns": "reruns",
        "gridgate_new_test_runs": "new_test_runs",
        "gridgate_flaky": "action",
    },
)
