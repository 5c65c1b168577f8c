"""Where gridgate's CPU time goes in a run: each phase of pytest, gridgate on against off.

The ratio of ``plugin_overhead.py`` is one number for the whole process. This script runs
the same suite (a case of ``plugin_overhead.py``, the leaks case by default: every gate
that works on each test) in alternating rounds with ``phase_clock.py`` loaded on both
sides, and prints each phase's median CPU time (user + system, measured inside the
process), the median over the rounds of each round's difference (its two runs back to
back share most of the host's drift), and how much of it is the garbage collector's:

* start-up: interpreter, pytest and the plugins imported, configuration read
* configure: every ``pytest_configure`` and ``pytest_sessionstart`` (where pytest's fixture
  manager reads every registered plugin object for fixtures)
* collection
* tests: the test loop, also per test
* end of run: ``pytest_sessionfinish``, the terminal summary, ``pytest_unconfigure``
* exit: pytest's cleanups (a full garbage collection) and ``atexit`` handlers

    python benchmarks/overhead_phases.py                       # leaks case, 3,000 tests
    python benchmarks/overhead_phases.py --case core --rounds 11

In-process times leave out only what precedes the interpreter's first line and follows the
last ``atexit`` handler, the same on both sides; the medians move with the host's load as
every CPU figure here does (see ``overhead_harness.py``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from overhead_harness import (
    BenchmarkError,
    alternating_rounds,
    median_difference,
    median_ratio,
    python_path_with,
    run_env,
    write_suite,
)
from plugin_overhead import CASES

#: (mark in phase_clock.py, label) in the order of a run.
PHASES = (
    ("startup", "start-up"),
    ("configure", "configure"),
    ("collection", "collection"),
    ("tests", "tests"),
    ("end", "end of run"),
    ("exit", "exit"),
)

Phases = dict[str, tuple[float, float]]  # phase: (CPU seconds, of which garbage collection)


def run_phases(directory: Path, args: tuple[str, ...], clock: Path, tests: int) -> Phases:
    """One pytest run's phases; the run must have run all ``tests`` of the suite."""
    env = run_env()
    env["PYTHONPATH"] = python_path_with(Path(__file__).resolve().parent)
    env["PHASE_CLOCK_FILE"] = str(clock)
    clock.unlink(missing_ok=True)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "phase_clock", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0 or not clock.exists():
        raise BenchmarkError(
            f"pytest {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-2000:]}"
        )
    try:
        data = json.loads(clock.read_text(encoding="utf-8"))
        marks, collected, ran = data["marks"], data["gc"], data["tests"]
        phases: Phases = {}
        previous = 0.0
        for mark, _ in PHASES:
            phases[mark] = (marks[mark] - previous, collected.get(mark, 0.0))
            previous = marks[mark]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BenchmarkError(f"{clock}: not a phase clock's record ({exc!r})") from None
    if ran != tests:
        raise BenchmarkError(f"pytest {' '.join(args)} ran {ran} of {tests} tests")
    return phases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=[c.name for c in CASES], default="leaks")
    parser.add_argument("--tests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--control",
        action="store_true",
        help="also run the baseline twice in each round: each phase's A/A difference, the "
        "host's noise beside gridgate's",
    )
    options = parser.parse_args()
    if options.rounds < 1 or options.tests < 1:
        parser.error("--rounds and --tests must be at least 1")
    case = next(c for c in CASES if c.name == options.case)
    on: list[Phases] = []
    off: list[Phases] = []
    again: list[Phases] = []
    with tempfile.TemporaryDirectory(prefix="gridgate-phases-") as tmp:
        directory = Path(tmp)
        write_suite(directory, options.tests, case.gridgate_config)
        clock = directory / "phases.json"
        sides = [(on, case.gridgate_args), (off, case.baseline_args)]
        if options.control:
            sides.append((again, case.baseline_args))
        try:
            alternating_rounds(
                sides,
                options.rounds,
                lambda args: run_phases(directory, args, clock, options.tests),
            )
        except BenchmarkError as exc:
            print(exc, file=sys.stderr)
            return 2
    print(
        f"{options.case} case ({case.description}), {options.tests} tests, {options.rounds} "
        "alternating rounds; CPU milliseconds per phase: medians of the runs, and the "
        "median of the rounds' differences (each round's two runs back to back)"
    )
    control = "     A/A" if again else ""
    print(
        f"{'phase':<12}{'gridgate':>10}{'baseline':>10}{'diff':>9}{'GC diff':>9}{control}  per test"
    )
    for mark, label in PHASES:
        diff = _paired(on, off, mark, 0)
        noise = f"{_paired(again, off, mark, 0):>+8.1f}" if again else ""
        each = f"  {diff / options.tests * 1e3:+.1f} µs" if mark == "tests" else ""
        print(
            f"{label:<12}{_median(on, mark):>10.1f}{_median(off, mark):>10.1f}{diff:>+9.1f}"
            f"{_paired(on, off, mark, 1):>+9.1f}{noise}{each}"
        )
    totals_off = list(map(_total, off))
    ratio = median_ratio(list(map(_total, on)), totals_off)
    control_ratio = (
        f", A/A {median_ratio(list(map(_total, again)), totals_off):.3f}" if again else ""
    )
    diff = median_difference(list(map(_total, on)), totals_off) * 1e3
    print(
        f"{'total':<12}{statistics.median(map(_total, on)) * 1e3:>10.1f}"
        f"{statistics.median(map(_total, off)) * 1e3:>10.1f}{diff:>+9.1f}"
        f"  ratio {ratio:.3f} (median of the rounds'){control_ratio}"
    )
    return 0


def _median(samples: list[Phases], mark: str) -> float:
    """The median over the runs of a phase's CPU time, in milliseconds."""
    return statistics.median(p[mark][0] for p in samples) * 1e3


def _paired(measured: list[Phases], baseline: list[Phases], mark: str, part: int) -> float:
    """The median over the rounds of the difference between a round's two runs, for a
    phase's CPU time (part 0) or its garbage collection's (part 1), in milliseconds."""
    return (
        median_difference([a[mark][part] for a in measured], [b[mark][part] for b in baseline])
        * 1e3
    )


def _total(phases: Phases) -> float:
    return sum(cpu for cpu, _ in phases.values())


if __name__ == "__main__":
    sys.exit(main())
