"""How even the shards are: gridgate's partition against pytest-split's two algorithms.

For N = 2, 4, 8 shards, prints the slowest shard's seconds over the mean shard's (1.00 is
perfect; the slowest shard is how long a sharded CI run takes) for:

* gridgate: ``pytest_gridgate.partition`` (longest first onto the lightest shard, then
  moves and swaps off the heaviest shard; every test its own unit, as pytest-split has it);
* pytest-split ``least_duration`` and ``duration_based_chunks``, on the same durations.

Suites: a synthetic one (300 tests, log-normal seconds correlated within a module, fixed
seed); the same with a fifth of the tests new (no duration in the file: each tool
estimates them, the shards are measured by the true seconds; shown, not judged, since one
seed is noise here); and a real suite's measured durations (this repository's own
test suite, ``benchmarks/data/gridgate_suite_durations.json``, or ``--durations FILE``).

pytest-split is not a dependency of gridgate; run this where it is installed::

    python -m venv /tmp/bench && /tmp/bench/bin/pip install pytest-split
    /tmp/bench/bin/python benchmarks/shard_balance.py

Exit 1 when gridgate misses its target: at most 1.05 of the mean whenever no single test
is longer than the mean shard, and never worse than either pytest-split algorithm.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the partition module needs nothing but the standard library

from pytest_gridgate.partition import estimates, partition  # noqa: E402

REAL = ROOT / "benchmarks" / "data" / "gridgate_suite_durations.json"
TARGET = 1.05
# Float noise, not a worse partition.
_TOLERANCE = 1e-9


class Item:
    """What pytest-split's algorithms read from a pytest item."""

    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid

    def __repr__(self) -> str:
        # least_duration breaks ties by str(item); an address would make it vary by run.
        return f"<Function {self.nodeid}>"


def synthetic(n: int = 300, seed: int = 16) -> dict[str, float]:
    """Log-normal seconds, correlated within a module as in real suites (a module's tests
    share fixtures and the kind of work they do): a module's typical time times a
    per-test factor."""
    rng = random.Random(seed)
    modules = [rng.lognormvariate(-1.0, 1.2) for _ in range(23)]
    return {
        f"tests/test_m{i % 23:02d}.py::test_{i:03d}": round(
            modules[i % 23] * rng.lognormvariate(0.0, 0.5), 4
        )
        for i in range(n)
    }


def gridgate_shards(ids: list[str], known: dict[str, float], n: int) -> list[list[str]]:
    return partition(ids, n, estimates(ids, known))


def split_shards(algorithm: str) -> Callable[[list[str], dict[str, float], int], list[list[str]]]:
    algorithms: Any = importlib.import_module("pytest_split.algorithms").Algorithms

    def shards(ids: list[str], known: dict[str, float], n: int) -> list[list[str]]:
        groups = algorithms[algorithm].value(n, [Item(i) for i in ids], dict(known))
        return [[item.nodeid for item in g.selected] for g in groups]

    return shards


def ratio(shards: list[list[str]], true: dict[str, float], n: int) -> float:
    loads = [sum(true[i] for i in shard) for shard in shards]
    assert sorted(i for shard in shards for i in shard) == sorted(true), "a test lost"
    return max(loads) / (sum(loads) / n)


def compare(
    name: str, true: dict[str, float], known: dict[str, float], judged: bool = True
) -> bool:
    """Print one suite's table; whether gridgate met its target on it (when ``judged``)."""
    ids = sorted(true)
    tools: dict[str, Callable[[list[str], dict[str, float], int], list[list[str]]]] = {
        "gridgate": gridgate_shards,
        "least_duration": split_shards("least_duration"),
        "duration_based_chunks": split_shards("duration_based_chunks"),
    }
    total = sum(true.values())
    print(f"\n{name}: {len(ids)} tests, {total:.1f} s, longest {max(true.values()):.2f} s")
    print(f"{'N':>3} {'longest/mean':>13} " + " ".join(f"{t:>22}" for t in tools))
    ok = True
    for n in (2, 4, 8):
        ratios = {tool: ratio(fn(ids, known, n), true, n) for tool, fn in tools.items()}
        longest = max(true.values()) / (total / n)
        row = f"{n:>3} {longest:>13.3f} " + " ".join(f"{r:>22.4f}" for r in ratios.values())
        ours = ratios["gridgate"]
        worse = any(ours > r + _TOLERANCE for t, r in ratios.items() if t != "gridgate")
        missed = longest <= 1.0 and ours > TARGET
        if judged and (worse or missed):
            ok = False
            row += "  <- gridgate " + ("worse than pytest-split" if worse else "over 1.05")
        print(row)
    return ok


def new_tests(seeds: int = 20) -> None:
    """Informational, not judged: the mean ratio over ``seeds`` synthetic suites with a
    fifth of the tests missing from the durations file (one suite alone is noise)."""
    tools = {
        "gridgate": gridgate_shards,
        "least_duration": split_shards("least_duration"),
        "duration_based_chunks": split_shards("duration_based_chunks"),
    }
    print(f"\nsynthetic, 20% new tests without a duration, mean of {seeds} suites (not judged)")
    print(f"{'N':>3} {'':>13} " + " ".join(f"{t:>22}" for t in tools))
    for n in (2, 4, 8):
        sums = dict.fromkeys(tools, 0.0)
        for seed in range(seeds):
            true = synthetic(seed=seed)
            rng = random.Random(seed)
            known = {nodeid: s for nodeid, s in true.items() if rng.random() >= 0.2}
            for tool, fn in tools.items():
                sums[tool] += ratio(fn(sorted(true), known, n), true, n)
        print(f"{n:>3} {'':>13} " + " ".join(f"{v / seeds:>22.4f}" for v in sums.values()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="shard balance: gridgate vs pytest-split")
    parser.add_argument("--durations", type=Path, default=REAL, help="a real suite's durations")
    args = parser.parse_args(argv)
    try:
        importlib.import_module("pytest_split.algorithms")
    except ImportError:
        print("pytest-split is not installed here; see this script's docstring", file=sys.stderr)
        return 2
    print("slowest shard / mean shard (1.0000 is perfect); lower is better")
    ok = compare("synthetic (log-normal)", synthetic(), synthetic())
    new_tests()
    real: dict[str, Any] = json.loads(args.durations.read_text())
    real_seconds = {str(k): float(v) for k, v in real.items()}
    ok &= compare(f"real suite ({args.durations.name})", real_seconds, real_seconds)
    print("\ntarget met" if ok else "\ntarget MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
