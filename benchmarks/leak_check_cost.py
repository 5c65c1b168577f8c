"""Per-test cost of each leak check: two snapshots, equal since nothing leaked.

    python benchmarks/leak_check_cost.py [--number 20000]

This is the cheap tier only, the cost every test pays; the deep tier (``compare``) runs
when something changed. The per-test total of the plugin adds its two hook calls (the
setup baseline and the teardown wrapper) on top.
"""

from __future__ import annotations

import argparse
import os
import timeit

from pytest_gridgate.leaks import tracking
from pytest_gridgate.leaks.detector import LeakDetector
from pytest_gridgate.settings.leaks import LeakSettings


class _PluginManager:
    def has_plugin(self, name: str) -> bool:
        return name == "timeout"  # as in a normal run: SIGALRM belongs to pytest-timeout


class _Config:
    pluginmanager = _PluginManager()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20000)
    options = parser.parse_args()
    tracking.install()
    detector = LeakDetector(_Config(), LeakSettings())  # type: ignore[arg-type]
    print(f"{len(os.environ)} environment variables; microseconds per test, best of 5")
    total = 0.0
    for check in detector.checks:

        def once(check: object = check) -> None:
            assert check.snapshot() == check.snapshot()  # type: ignore[attr-defined]

        cost = min(timeit.repeat(once, number=options.number, repeat=5)) / options.number * 1e6
        total += cost
        print(f"  {check.name:<10} {cost:6.2f}")
    print(f"  {'sum':<10} {total:6.2f}")

    def whole_test() -> None:
        # The path of a test that leaked nothing: two snapshots, equal.
        assert detector._snapshot() == detector._snapshot()

    cost = min(timeit.repeat(whole_test, number=options.number, repeat=5)) / options.number * 1e6
    print(f"  {'detector':<10} {cost:6.2f}  (all checks through the plugin's own loop)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
