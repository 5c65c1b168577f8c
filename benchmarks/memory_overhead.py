"""Memory gate overhead: CPU time of 2,000 trivial tests with the gate on against off, and
pytest-memray's ``limit_memory`` on the same tests against pytest without it.

Same method as ``plugin_overhead.py`` (alternating rounds, the median of each round's
ratio of the child processes' CPU time; see ``overhead_harness.py``). Timeouts and leak
checks are off in every run, so the only difference within a pair is the measured tool.
Then one test that allocates 300 MB in a function-scoped fixture and one that does so in
its body, each under a 100 MB limit, show what each tool sees.

    python benchmarks/memory_overhead.py                  # 2,000 tests, 7 rounds
    python benchmarks/memory_overhead.py --tests 500 --rounds 3
    # with the pytest-memray comparison, from an environment of its own (installed next to
    # gridgate it would load into every pytest run of the project):
    python -m venv /tmp/memray-venv && /tmp/memray-venv/bin/pip install pytest pytest-memray
    python benchmarks/memory_overhead.py --memray-python /tmp/memray-venv/bin/python
    # and the instructions each run executes in user space, counted by valgrind: the same
    # figure on every run whatever the machine's load (a few minutes more):
    python benchmarks/memory_overhead.py --instructions

Target (issue 17): gate on / off <= 1.03.
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
    LEAKS_OFF,
    TIMEOUTS_OFF,
    BenchmarkError,
    instructions,
    paired_rounds,
    write_suite,
)

OTHER_GATES_OFF = (
    TIMEOUTS_OFF
    + LEAKS_OFF
    + """
    [tool.gridgate.memory]
    action = "fail"
    limit = "100MB"
"""
)
# Every test gets pytest-memray's limit, as memory.limit gives every test gridgate's.
MEMRAY_CONFTEST = """
import pytest

def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.limit_memory("100 MB"))
"""
TARGET = 1.03

SEEN = """
import pytest

@pytest.fixture
def big():
    data = b"x" * 300_000_000
    del data
    yield

def test_in_fixture(big):
    pass

def test_in_body():
    data = b"x" * 300_000_000
    del data
"""


def pairs(
    directory: Path,
    on: tuple[str, ...],
    off: tuple[str, ...],
    rounds: int,
    python: str = sys.executable,
) -> tuple[float, str]:
    """The median of the rounds' ratios, and a line with it, the ratio of the two fastest
    runs and each round's."""
    times_on, times_off, ratio = paired_rounds(directory, on, off, rounds, python, timeout=3600)
    ratios = [a / b for a, b in zip(times_on, times_off, strict=True)]
    return ratio, (
        f"{ratio:6.3f}  min/min {min(times_on) / min(times_off):6.3f}"
        f"  (rounds {', '.join(f'{r:.3f}' for r in ratios)}; "
        f"CPU s median {statistics.median(times_on):.2f} / {statistics.median(times_off):.2f})"
    )


def what_each_sees(memray_python: str | None) -> list[str]:
    lines = []
    with tempfile.TemporaryDirectory(prefix="gridgate-bench-seen-") as tmp:
        directory = Path(tmp)
        write_suite(directory, 0, OTHER_GATES_OFF)
        (directory / "test_seen.py").write_text(SEEN)
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:memray", "--gridgate-report", "r.json"],
            cwd=directory, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        report = json.loads((directory / "r.json").read_text())
        for entry in report["memory"]:
            if entry["kind"] == "peak":
                verdict = "FAIL" if entry["bytes"] > entry["limit"] else "pass"
                size = f"{entry['bytes'] / 1e6:7.1f} MB"
                lines.append(f"  gridgate  {entry['nodeid']:<28} peak {size}  {verdict}")
        if memray_python:
            (directory / "conftest.py").write_text(MEMRAY_CONFTEST)
            run = subprocess.run(
                [memray_python, "-m", "pytest", "-p", "no:gridgate", "--memray", "-rA"],
                cwd=directory, capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            for test in ("test_in_fixture", "test_in_body"):
                passed = f"PASSED test_seen.py::{test}" in run.stdout
                lines.append(
                    f"  memray    test_seen.py::{test:<14} limit_memory(100 MB)"
                    f"  {'pass' if passed else 'FAIL'}"
                )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--memray-python", help="an interpreter with pytest-memray installed")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count the instructions of one run each under valgrind (load-independent)",
    )
    options = parser.parse_args()
    memray_python = options.memray_python
    print(f"{options.tests} trivial tests, {options.rounds} alternating rounds, CPU time ratio")
    failed = False
    with tempfile.TemporaryDirectory(prefix="gridgate-bench-memory-") as tmp:
        directory = Path(tmp)
        write_suite(directory, options.tests, OTHER_GATES_OFF)
        try:
            on = ("-p", "no:memray")
            off = (*on, "--gridgate-memory", "off")
            ratio, gate = pairs(directory, on, off, options.rounds)
            failed = ratio > TARGET
            verdict = "OVER" if failed else "ok"
            print(f"memory gate on / off          {gate}  target {TARGET:.2f}: {verdict}")
            if options.instructions:
                counted = instructions(directory, on, off)
                print(f"  instructions on / off       {counted}  (user space, valgrind)")
            if memray_python:
                (directory / "conftest.py").write_text(MEMRAY_CONFTEST)
                # One round: its cost is far above the machine's noise, and each of its
                # runs takes minutes.
                _, memray = pairs(
                    directory,
                    ("-p", "no:gridgate", "--memray"),
                    ("-p", "no:gridgate", "-p", "no:memray"),
                    1,
                    memray_python,
                )
                print(f"pytest-memray --memray / off  {memray}")
            else:
                print("pytest-memray: no --memray-python given, comparison skipped")
        except BenchmarkError as exc:
            print(exc, file=sys.stderr)
            return 2
    print("what each sees, 300 MB allocated and freed, limit 100 MB:")
    for line in what_each_sees(memray_python):
        print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
