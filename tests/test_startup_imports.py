"""What a run imports at start-up: only what its gates, as configured, use.

Every run of every test suite pays for each module the plugin imports (issue 17: the
all-gates overhead). The inner test looks at ``sys.modules`` of a real pytest process,
after configuration and collection, so it sees what the plugin's start-up imported.
"""

from __future__ import annotations

import pytest

# The benchmark's "timeouts off" (benchmarks/overhead_harness.py, TIMEOUTS_OFF).
_TIMEOUTS_OFF = """
[tool.gridgate.timeouts]
default = 0
session = 0
collection = 0
kill_after = 0
"""

_LOADED = """
import sys

def test_loaded():
    for name in ("pytest_gridgate.timeouts.supervisor", "statistics"):
        print(f"\\nloaded {name}: {name in sys.modules}")
"""


def _loaded(pytester: pytest.Pytester, config: str) -> list[str]:
    pytester.makepyprojecttoml("[tool.gridgate]\n" + config)
    pytester.makepyfile(test_loaded=_LOADED)
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()
    return [line.removeprefix("loaded ") for line in result.outlines if line.startswith("loaded ")]


def test_timeouts_off_loads_neither_the_supervisor_nor_statistics(
    pytester: pytest.Pytester,
) -> None:
    assert _loaded(pytester, _TIMEOUTS_OFF) == [
        "pytest_gridgate.timeouts.supervisor: False",
        "statistics: False",  # the shard gate's estimates need it, only when sharding
    ]


def test_the_supervisor_is_loaded_when_it_runs(pytester: pytest.Pytester) -> None:
    # The control: with the defaults (kill_after = 5) the supervisor starts on Linux.
    if not __import__("sys").platform.startswith("linux"):
        pytest.skip("the supervisor runs on Linux only")
    assert "pytest_gridgate.timeouts.supervisor: True" in _loaded(pytester, "")
