"""The gates' system calls per test, alone: what they cost inside a pytest run, on this host.

With every leak check and the memory gate on, gridgate makes eleven system calls a test
that plain pytest does not (``strace -c -f`` over 3,000 trivial tests: 101,072 calls
against 66,870): the memory meter's six after the teardown (``ProcMeter.lap`` in
``pytest_gridgate/memory/meter.py``) and the descriptor check's five (``FdCheck.baseline``
and ``FdCheck.snapshot`` in ``pytest_gridgate/leaks/fds.py``: the lowest free number before
the test; the count and the lowest free number after it). valgrind counts none of the
kernel's work, and a loop making the calls back to back times them with everything hot.

Here a ``-p`` plugin makes the same calls, in the same hooks and order, and nothing else,
in runs of the same suite with gridgate off, against the same hooks and loops without the calls, in
alternating rounds (``overhead_harness.py``); ``--control`` adds an A/A column. The
difference per test, beside the calls' time in a loop, is what they cost where gridgate
makes them: between pytest's own work, once per test. Linux only (``/proc``).

    python benchmarks/kernel_calls.py                      # 3,000 tests, 9 rounds
    python benchmarks/kernel_calls.py --rounds 16 --control
    python benchmarks/kernel_calls.py --repeat 3           # each call three times
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from overhead_harness import (
    LEAKS_OFF,
    MEMORY_OFF,
    TIMEOUTS_OFF,
    BenchmarkError,
    median_difference,
    median_ratio,
    paired_rounds,
    write_suite,
)

#: The plugin with the calls. ``REPEAT`` is set when it is written (both plugins).
CALLS_PLUGIN = """
    import fcntl
    import os
    import resource

    import pytest

    REPEAT = {repeat}
    # What the gates keep open: the memory meter's clear_refs and children list, the
    # descriptor check's /proc/self/fd.
    _clear = os.open("/proc/self/clear_refs", os.O_WRONLY | os.O_APPEND)
    _children = os.open(f"/proc/self/task/{{os.getpid()}}/children", os.O_RDONLY)
    _fd_dir = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
    _THREAD, _CHILDREN = resource.RUSAGE_THREAD, resource.RUSAGE_CHILDREN


    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(item):
        for _ in range(REPEAT):
            os.close(os.dup(_fd_dir))  # descriptor check: the lowest free number


    @pytest.hookimpl(trylast=True)
    def pytest_runtest_teardown(item):
        for _ in range(REPEAT):
            fcntl.fcntl(_clear, fcntl.F_GETFL)  # memory meter: its descriptor is its own
            resource.getrusage(_THREAD)  # the peak
            resource.getrusage(_CHILDREN)  # the reaped children's peak
            os.pread(_children, 16, 0)  # children still running
            os.write(_clear, b"5")  # the reset
            resource.getrusage(_THREAD)  # the size after it
            os.fstat(_fd_dir)  # descriptor check: the count
            os.close(os.dup(_fd_dir))  # and the lowest free number
"""
#: The same hooks and loops without the calls: the baseline.
EMPTY_PLUGIN = """
    import pytest

    REPEAT = {repeat}


    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(item):
        for _ in range(REPEAT):
            pass


    @pytest.hookimpl(trylast=True)
    def pytest_runtest_teardown(item):
        for _ in range(REPEAT):
            pass
"""
CALLS_PER_TEST = 11


def _in_a_loop(plugin: Path, tests: int) -> float:
    """Microseconds per test of the calls made back to back, ``tests`` times, in this
    process (the plugin's two hooks, called directly)."""
    spec = importlib.util.spec_from_file_location("kernel_calls_plugin", plugin)
    if spec is None or spec.loader is None:
        raise BenchmarkError(f"cannot load {plugin}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    setup, teardown = module.pytest_runtest_setup, module.pytest_runtest_teardown
    start = time.process_time()
    for _ in range(tests):
        setup(None)
        teardown(None)
    return (time.process_time() - start) / tests * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--repeat", type=int, default=1, help="make each call this many times")
    parser.add_argument(
        "--control",
        action="store_true",
        help="also run the baseline twice in each round: the A/A ratio, the host's noise",
    )
    options = parser.parse_args()
    if min(options.tests, options.rounds, options.repeat) < 1:
        parser.error("--tests, --rounds and --repeat must be at least 1")
    if not sys.platform.startswith("linux"):
        print("kernel_calls.py: Linux only (the calls read /proc)", file=sys.stderr)
        return 2
    calls = CALLS_PER_TEST * options.repeat
    with tempfile.TemporaryDirectory(prefix="gridgate-bench-calls-") as tmp:
        directory = Path(tmp)
        write_suite(directory, options.tests, TIMEOUTS_OFF + LEAKS_OFF + MEMORY_OFF)
        # `python -m pytest` puts the working directory first on sys.path: `-p` finds them.
        plugin = directory / "kernel_calls_plugin.py"
        plugin.write_text(textwrap.dedent(CALLS_PLUGIN.format(repeat=options.repeat)))
        (directory / "empty_hooks_plugin.py").write_text(
            textwrap.dedent(EMPTY_PLUGIN.format(repeat=options.repeat))
        )
        again: list[float] | None = [] if options.control else None
        try:
            on, off, ratio = paired_rounds(
                directory,
                ("-p", "no:gridgate", "-p", "kernel_calls_plugin"),
                ("-p", "no:gridgate", "-p", "empty_hooks_plugin"),
                options.rounds,
                control=again,
            )
        except BenchmarkError as exc:
            print(f"kernel_calls.py: {exc}", file=sys.stderr)
            return 2
        loop = _in_a_loop(plugin, options.tests)
    per_test = median_difference(on, off) / options.tests
    print(
        f"{options.tests} trivial tests, {options.rounds} alternating rounds, gridgate off; "
        f"{calls} system calls a test (the gates' {CALLS_PER_TEST}"
        f"{f' x {options.repeat}' if options.repeat > 1 else ''}) against the same hooks "
        "without them"
    )
    print(
        f"  CPU seconds, medians: with the calls {statistics.median(on):.3f}, "
        f"without {statistics.median(off):.3f}"
    )
    print(
        f"  ratio {ratio:.3f} (median of the rounds')"
        + (f", A/A {median_ratio(again, off):.3f}" if again is not None else "")
    )
    print(
        f"  per test: {per_test * 1e6:.1f} µs inside the run, {loop:.1f} µs in a loop "
        f"({per_test * 1e6 / calls:.1f} and {loop / calls:.2f} µs a call)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
