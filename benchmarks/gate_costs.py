"""Where the all-gates overhead goes: each gate's fixed cost and cost per test, in instructions.

    python benchmarks/gate_costs.py                      # every gate, 500 and 1,500 tests
    python benchmarks/gate_costs.py --gate leaks --gate memory --tests 200 600

The suite and configuration are ``plugin_overhead.py``'s leaks case (every leak check in
``fail`` mode, the memory gate, the timeouts gate switched off). Each configuration runs
at two suite sizes, under valgrind (callgrind), whose counts of the instructions executed
in user space do not move with the machine's load as CPU time does. The difference
between the two sizes, per test, is what one test costs; what remains is the run's fixed
cost (start-up, configuration, the end of the run). A gate's share is the difference to
the run with that gate blocked (``-p no:pytest_gridgate.NAME``); the plugin's, the
difference to ``-p no:gridgate``. Time spent in the kernel (system calls) and in cache
misses is not counted: the CPU time ratio of ``plugin_overhead.py`` sits some 2 points
above the instruction ratio.

Python's automatic garbage collection is off in every counted run (a plugin loaded with
``-p``): a full collection runs when the heap has grown by a quarter, and one more or
fewer of them in a run (some 60 million instructions at 1,500 tests) would swamp the
figures. The collections pytest asks for itself, at the end of the run, still happen.

Precision: the counts are exact, but two configurations do not run quite the same
interpreter work besides the gate's (the order of sets and dictionaries, when a table
grows, what the final collections walk). A gate that does nothing per test shows up to
about 15,000 instructions per test either way, and up to about 6 million fixed: figures
inside those bounds mean no measurable cost; the totals are good to a few per cent.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from overhead_harness import BenchmarkError, counted, cpu_of_run, start_count, write_suite
from plugin_overhead import CASES

from pytest_gridgate.plugin import GATES

# The all-gates case of plugin_overhead.py, whose overhead this splits.
LEAKS_CASE = next(case for case in CASES if case.name == "leaks")
GC_OFF_PLUGIN = "gridgate_bench_gc_off"


@dataclass(frozen=True)
class Cost:
    fixed: float  # instructions
    per_test: float


def _costs(
    directories: tuple[Path, Path],
    sizes: tuple[int, int],
    variants: dict[str, tuple[str, ...]],
    plugin_dir: Path,
) -> dict[str, Cost]:
    """Each variant's (its pytest arguments') cost, two runs at a time; ``plugin_dir``
    holds the plugin that switches the automatic garbage collection off."""
    jobs = [(name, index) for name in variants for index in (0, 1)]
    env = {"PYTHONPATH": str(plugin_dir)}
    counts: dict[tuple[str, int], int] = {}
    parallel = max(1, min(2, os.cpu_count() or 1))
    for start in range(0, len(jobs), parallel):
        batch = jobs[start : start + parallel]
        runs = [
            start_count(directories[i], ("-p", GC_OFF_PLUGIN, *variants[name]), env)
            for name, i in batch
        ]
        for job, run in zip(batch, runs, strict=True):
            counts[job] = counted(run)
    costs = {}
    for name in variants:
        small, large = counts[name, 0], counts[name, 1]
        per_test = (large - small) / (sizes[1] - sizes[0])
        costs[name] = Cost(small - per_test * sizes[0], per_test)
    return costs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, nargs=2, default=(500, 1500), metavar="N")
    names = [name.removeprefix("pytest_gridgate.") for name in GATES]
    parser.add_argument(
        "--gate", action="append", choices=names, help="only these gates (default: all but config)"
    )
    options = parser.parse_args()
    small, large = sorted(options.tests)
    if small == large:
        parser.error("--tests: two different sizes")
    gates = options.gate or [name for name in names if name != "config"]
    variants = {"gridgate": LEAKS_CASE.gridgate_args, "baseline": LEAKS_CASE.baseline_args}
    variants.update(
        {gate: (*LEAKS_CASE.gridgate_args, "-p", f"no:pytest_gridgate.{gate}") for gate in gates}
    )
    with tempfile.TemporaryDirectory(prefix="gridgate-bench-gate-costs-") as tmp:
        root = Path(tmp)
        (root / f"{GC_OFF_PLUGIN}.py").write_text("import gc\n\ngc.disable()\n")
        directories = (root / "small", root / "large")
        for directory, size in zip(directories, (small, large), strict=True):
            directory.mkdir()
            write_suite(directory, size, LEAKS_CASE.gridgate_config)
            try:  # bytecode written, test modules compiled: not counted as per-test work
                cpu_of_run(directory, LEAKS_CASE.gridgate_args)
                cpu_of_run(directory, LEAKS_CASE.baseline_args)
            except BenchmarkError as exc:
                print(exc, file=sys.stderr)
                return 2
        try:
            costs = _costs(directories, (small, large), variants, root)
        except BenchmarkError as exc:
            print(exc, file=sys.stderr)
            return 2
    on, off = costs.pop("gridgate"), costs.pop("baseline")
    print(f"instructions in user space, {small} and {large} trivial tests, automatic gc off")
    print(f"{'':<24}{'fixed (M)':>10}{'per test (k)':>14}")
    print(f"{'pytest alone':<24}{off.fixed / 1e6:>10.1f}{off.per_test / 1e3:>14.1f}")
    print(
        f"{'gridgate, all gates':<24}{(on.fixed - off.fixed) / 1e6:>+10.1f}"
        f"{(on.per_test - off.per_test) / 1e3:>+14.1f}"
    )
    for gate, blocked in sorted(costs.items(), key=lambda item: item[1].fixed):
        print(
            f"{'  ' + gate:<24}{(on.fixed - blocked.fixed) / 1e6:>+10.1f}"
            f"{(on.per_test - blocked.per_test) / 1e3:>+14.1f}"
        )
    tests = 3000
    ratio = (on.fixed + on.per_test * tests) / (off.fixed + off.per_test * tests)
    print(f"at {tests} tests: instruction ratio {ratio:.3f}")
    print("(a gate within about 15k per test and 6 M fixed of zero: no measurable cost)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
