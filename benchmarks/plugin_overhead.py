"""Plugin overhead: CPU time of pytest with gridgate on, as a ratio to a baseline run.

Each case runs the same generated suite of trivial tests twice per round, alternating the
order; the figure is the median over the rounds of each round's CPU time ratio, with the
ratio of the two medians and of the two fastest runs beside it (the method, and why, in
``overhead_harness.py``).

    python benchmarks/plugin_overhead.py                 # every case, 3,000 tests, 7 rounds
    python benchmarks/plugin_overhead.py --case core --tests 500 --rounds 3
    # and the instructions of one run each in user space, counted by valgrind: the same
    # figure whatever the machine's load, which moves the CPU ratio by several per cent
    python benchmarks/plugin_overhead.py --case leaks --instructions
    # and another revision of gridgate in the same rounds, on the same suite and pytest:
    # how the code's cost moved since then, whatever the machine
    python benchmarks/plugin_overhead.py --case leaks --against f2282f3

Each case measures its own issue's gates: the core and leaks cases switch the timeouts gate
off completely (no per-test timer, no supervisor process), the timeouts case switches the
leak checks off; the memory gate (on by default) is off in the core and timeouts cases and
on in the leaks case, which is the all-gates figure. Targets (from the issues): core <= 1.03,
leaks <= 1.10, timeouts <= 1.02.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from overhead_harness import (
    LEAKS_OFF,
    MEMORY_OFF,
    TIMEOUTS_OFF,
    BenchmarkError,
    Instructions,
    checked_out,
    counted,
    instructions,
    median_ratio,
    paired_rounds,
    start_count,
    write_suite,
)


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    target: float
    gridgate_config: str  # [tool.gridgate] body for the measured run
    gridgate_args: tuple[str, ...]
    baseline_args: tuple[str, ...]


CASES = (
    Case(
        name="core",
        description="env defaults, collection gate, report (timeouts and leaks switched off)",
        target=1.03,
        gridgate_config="""
            [tool.gridgate.env]
            DATABASE_URL = "sqlite:///:memory:"
        """
        + TIMEOUTS_OFF
        + LEAKS_OFF
        + MEMORY_OFF,
        # The whole plugin: a gate switched off by configuration costs next to nothing.
        gridgate_args=("--gridgate-report", "report.json"),
        baseline_args=("-p", "no:gridgate"),
    ),
    Case(
        name="leaks",
        description="every default leak check, action = fail, and the memory gate (default on)",
        target=1.10,
        gridgate_config=TIMEOUTS_OFF
        + """
            [tool.gridgate.leaks]
            action = "fail"
        """,
        gridgate_args=(),
        baseline_args=("-p", "no:gridgate"),
    ),
    Case(
        name="timeouts",
        description="timeouts.default = 30 against plain pytest-timeout --timeout=30",
        target=1.02,
        gridgate_config="""
            [tool.gridgate.timeouts]
            default = 30
        """
        + LEAKS_OFF
        + MEMORY_OFF,
        gridgate_args=(),
        baseline_args=("-p", "no:gridgate", "--timeout=30"),
    ),
)


#: How far from 1 the A/A ratio of ``--control`` may be before a verdict is marked noisy:
#: a third of the leaks case's margin, all of the core case's.
NOISY = 0.03


@dataclass(frozen=True)
class Measured:
    on: list[float]
    off: list[float]
    ratio: float
    control: float | None  # the median A/A ratio (--control)
    counted: Instructions | None  # --instructions
    against: float | None = None  # the other revision's median ratio (--against)
    against_counted: Instructions | None = None  # its instructions, and the baseline's


def _measure_in(
    directory: Path,
    case: Case,
    rounds: int,
    count_instructions: bool,
    control: bool,
    revision: dict[str, str] | None,
) -> Measured:
    again: list[float] | None = [] if control else None
    other: list[float] = []
    on, off, ratio = paired_rounds(
        directory,
        case.gridgate_args,
        case.baseline_args,
        rounds,
        control=again,
        revision=(other, revision) if revision is not None else None,
    )
    count = against_count = None
    if count_instructions:
        count = instructions(directory, case.gridgate_args, case.baseline_args)
        if revision is not None:
            run = start_count(directory, case.gridgate_args, revision)
            against_count = Instructions(counted(run), count.off)
    return Measured(
        on,
        off,
        ratio,
        control=median_ratio(again, off) if again is not None else None,
        counted=count,
        against=median_ratio(other, off) if revision is not None else None,
        against_counted=against_count,
    )


def measure(
    case: Case,
    tests: int,
    rounds: int,
    count_instructions: bool,
    control: bool,
    against: str | None = None,
) -> Measured:
    with tempfile.TemporaryDirectory(prefix=f"gridgate-bench-{case.name}-") as tmp:
        directory = Path(tmp)
        write_suite(directory, tests, case.gridgate_config)
        if against is None:
            return _measure_in(directory, case, rounds, count_instructions, control, None)
        with checked_out(against) as revision:
            return _measure_in(directory, case, rounds, count_instructions, control, revision)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", choices=[c.name for c in CASES])
    parser.add_argument("--tests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count the instructions of one run each under valgrind (load-independent)",
    )
    parser.add_argument(
        "--control",
        action="store_true",
        help="also run the baseline twice in each round: the A/A ratio, the host's noise",
    )
    parser.add_argument(
        "--against",
        metavar="REV",
        help="also measure gridgate at git revision REV in the same rounds (the code's cost "
        "then and now on one machine); with --instructions, its instructions too",
    )
    options = parser.parse_args()
    chosen = [c for c in CASES if not options.case or c.name in options.case]
    print(f"{options.tests} trivial tests, {options.rounds} alternating rounds, CPU seconds")
    print(
        f"{'case':<10}{'gridgate':>10}{'baseline':>10}{'med/med':>9}{'min/min':>9}{'ratio':>8}"
        f"{'target':>8}"
        "  verdict"
    )
    failed = False
    for case in chosen:
        try:
            m = measure(
                case,
                options.tests,
                options.rounds,
                options.instructions,
                options.control,
                options.against,
            )
        except BenchmarkError as exc:
            print(f"{case.name}: {exc}", file=sys.stderr)
            return 2
        ok = m.ratio <= case.target
        failed |= not ok
        median_on, median_off = statistics.median(m.on), statistics.median(m.off)
        noisy = m.control is not None and abs(m.control - 1) > NOISY
        print(
            f"{case.name:<10}{median_on:>10.3f}{median_off:>10.3f}{median_on / median_off:>9.3f}"
            f"{min(m.on) / min(m.off):>9.3f}{m.ratio:>8.3f}"
            f"{case.target:>8.2f}  "
            f"{'ok' if ok else 'OVER'}{' (noisy host)' if noisy else ''}  ({case.description})"
        )
        if m.control is not None:
            why = f"  (over {NOISY:.0%} from 1: the load alone moves a ratio that much)"
            print(
                f"{'':<10}A/A: baseline / baseline {m.control:6.3f} in the same rounds"
                f"{why if noisy else ''}"
            )
        if m.counted is not None:
            # The load-independent figure beside the verdict, for hosts noisier than its margin.
            within = m.counted.ratio <= case.target
            print(
                f"{'':<10}instructions on / off {m.counted}  (user space, valgrind): "
                f"{'within' if within else 'over'} {case.target:.2f}"
            )
        if m.against is not None:
            print(
                f"{'':<10}against {options.against}: {m.against:6.3f} in the same rounds "
                f"(this tree {m.ratio:.3f})"
                + (f"; instructions {m.against_counted}" if m.against_counted is not None else "")
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
