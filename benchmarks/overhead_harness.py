"""The harness of the overhead benchmarks (``plugin_overhead.py``, ``memory_overhead.py``).

A generated suite of trivial tests, the CPU time of one pytest run over it, and rounds of
two runs back to back in alternating order (measured first, then baseline; then the other
way round). The figure is the median over the rounds of each round's ratio of the child
processes' CPU time (user + system): on a shared virtual machine the same run's CPU time
drifts by 20 % within minutes, and the two runs of one round, back to back, share most of
that drift. The ratio of the two fastest runs is printed beside it: interference from the
rest of the machine only ever adds CPU time, so the fastest run is the one least disturbed
(as ``timeit`` reports its best time).
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

#: ``[tool.gridgate]`` tables that switch a gate off completely (no per-test timer, no
#: supervisor process; no leak checks; no memory meter), for the cases that measure another.
TIMEOUTS_OFF = """
    [tool.gridgate.timeouts]
    default = 0
    session = 0
    collection = 0
    kill_after = 0
"""
LEAKS_OFF = """
    [tool.gridgate.leaks]
    action = "off"
"""
MEMORY_OFF = """
    [tool.gridgate.memory]
    action = "off"
"""


Sample = TypeVar("Sample")
Side = TypeVar("Side")


class BenchmarkError(Exception):
    """A measured run failed: its numbers would mean nothing."""


def write_suite(directory: Path, tests: int, config: str) -> None:
    """``tests`` trivial tests, 100 a module; ``config`` is the ``[tool.gridgate]`` body."""
    per_module = 100
    for module in range((tests + per_module - 1) // per_module):
        count = min(per_module, tests - module * per_module)
        body = "".join(f"def test_{i}():\n    assert True\n\n" for i in range(count))
        (directory / f"test_m{module:03d}.py").write_text(body)
    (directory / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\naddopts = '-q -p no:cacheprovider'\n\n"
        "[tool.gridgate]\n" + textwrap.dedent(config)
    )


def run_env() -> dict[str, str]:
    """The environment of a measured run: this one without pytest's and gridgate's own
    variables, and with bytecode written."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GRIDGATE_"))}
    # Let the warm-up run write bytecode, as an installed wheel has it: otherwise every
    # measured run recompiles the plugin's sources and pytest every test module
    # (PYTHONDONTWRITEBYTECODE=1 shells), the same cost on both sides of a ratio.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def python_path_with(first: Path) -> str:
    """``PYTHONPATH`` with ``first`` before whatever it holds already."""
    return os.pathsep.join(filter(None, [str(first), os.environ.get("PYTHONPATH")]))


@contextmanager
def checked_out(revision: str) -> Iterator[dict[str, str]]:
    """The variables that make a pytest run load gridgate from ``revision`` of this
    repository (a temporary ``git worktree``, first on ``PYTHONPATH``; the entry point is
    the same module name), for as long as the context lasts.

    The installed distribution stays the same, and so do pytest and every other plugin:
    two revisions of gridgate measured in the same rounds differ only in gridgate's code,
    whatever the machine. A revision that cannot read the suite's configuration fails its
    first run (BenchmarkError).
    """
    repository = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="gridgate-revision-") as tmp:
        tree = Path(tmp) / "tree"
        try:
            added = subprocess.run(
                ["git", "-C", str(repository), "worktree", "add", "--detach", str(tree), revision],
                capture_output=True,
                text=True,
                timeout=300,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:  # no git; a hung checkout
            raise BenchmarkError(f"--against {revision}: {exc}") from None
        if added.returncode != 0:
            said = (added.stderr.strip().splitlines() or ["git failed"])[-1]
            raise BenchmarkError(f"--against {revision}: {said}")
        try:
            yield {"PYTHONPATH": python_path_with(tree)}
        finally:
            # Never in place of the measurement's own error; git prunes a stale entry later.
            with suppress(OSError, subprocess.TimeoutExpired):
                subprocess.run(
                    ["git", "-C", str(repository), "worktree", "remove", "--force", str(tree)],
                    capture_output=True,
                    timeout=300,
                )


def cpu_of_run(
    directory: Path,
    args: tuple[str, ...],
    python: str = sys.executable,
    timeout: float = 600,
    expect: tuple[int, ...] = (0,),
    env: Mapping[str, str] | None = None,
) -> float:
    """CPU seconds (user + system) that one pytest run with ``python`` took, children
    included; the run must exit with one of ``expect``. ``env``: variables to add."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(
        [python, "-m", "pytest", *args],
        cwd=directory,
        env={**run_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode not in expect:
        raise BenchmarkError(
            f"pytest {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-2000:]}"
        )
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def paired_rounds(
    directory: Path,
    measured: tuple[str, ...],
    baseline: tuple[str, ...],
    rounds: int,
    python: str = sys.executable,
    timeout: float = 600,
    expect: tuple[int, ...] = (0,),
    control: list[float] | None = None,
    revision: tuple[list[float], Mapping[str, str]] | None = None,
) -> tuple[list[float], list[float], float]:
    """CPU seconds of the measured runs, of the baseline runs, and the median of the
    rounds' ratios; a warm-up run of each first (file system and bytecode caches: the
    measured side's own modules are compiled by its warm-up, not by its first round).
    Every run must exit with one of ``expect``.

    ``control``: a list that gets a second baseline run's CPU seconds in every round, next
    to the first (measured, baseline, baseline again; the other way round in the next
    round). The median of its ratios to the baseline runs, an A/A comparison of two equal
    runs, is what the machine's load alone makes of a ratio in these very rounds: the
    noise floor of the figure.

    ``revision``: a list that gets, in every round, the CPU seconds of the measured run with
    the variables given (another revision of gridgate first on ``PYTHONPATH``: see
    :func:`checked_out`), so that two versions of the plugin are compared under the same
    load.
    """
    on: list[float] = []
    off: list[float] = []
    sides: list[tuple[list[float], tuple[str, ...], Mapping[str, str] | None]] = [
        (on, measured, None),
        (off, baseline, None),
    ]
    if control is not None:
        sides.append((control, baseline, None))
    if revision is not None:
        sides.append((revision[0], measured, revision[1]))
    alternating_rounds(
        [(samples, (args, env)) for samples, args, env in sides],
        rounds,
        lambda side: cpu_of_run(directory, side[0], python, timeout, expect, side[1]),
    )
    return on, off, median_ratio(on, off)


def alternating_rounds(
    sides: Sequence[tuple[list[Sample], Side]], rounds: int, run: Callable[[Side], Sample]
) -> None:
    """``run(side)`` for each side in every round, appended to that side's list: first one
    warm-up run of each distinct side (not kept), then the rounds, in the order given in
    even rounds and the reverse in odd ones, so that no side always runs first."""
    warmed: list[Side] = []
    for _, side in sides:
        if side not in warmed:
            warmed.append(side)
            run(side)
    for round_ in range(rounds):
        for samples, side in sides if round_ % 2 == 0 else reversed(sides):
            samples.append(run(side))


def median_ratio(measured: list[float], baseline: list[float]) -> float:
    """The median of the rounds' ratios, each measured run to the baseline run of its
    round."""
    return statistics.median(a / b for a, b in zip(measured, baseline, strict=True))


def median_difference(measured: list[float], baseline: list[float]) -> float:
    """The median of the rounds' differences, each measured run less the baseline run of
    its round (the two ran back to back, in the same state of the host)."""
    return statistics.median(a - b for a, b in zip(measured, baseline, strict=True))


def start_count(
    directory: Path, args: tuple[str, ...], env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """A pytest run under valgrind in ``directory`` (``env``: variables to add), started;
    :func:`counted` waits for it and gives its instructions in user space."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise BenchmarkError("valgrind is not installed (instruction counts need it)")
    run_variables = run_env()
    # One hash seed for every run: string hashing decides the order of sets, and so some
    # of the work (a few tenths of a per cent between runs otherwise).
    run_variables["PYTHONHASHSEED"] = "0"
    run_variables.update(env or {})
    command = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    return subprocess.Popen(
        [*command, "-m", "pytest", *args],
        cwd=directory,
        env=run_variables,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def counted(run: subprocess.Popen[str]) -> int:
    """The instructions of a run from :func:`start_count`, once it has ended."""
    _, err = run.communicate(timeout=3600)
    found = re.search(r"Collected : (\d+)", err)
    if run.returncode != 0 or found is None:
        command = " ".join(str(arg) for arg in run.args)  # type: ignore[union-attr]
        raise BenchmarkError(f"{command} failed:\n{err[-2000:]}")
    return int(found.group(1))


@dataclass(frozen=True)
class Instructions:
    """The instructions two runs executed in user space; printed as their ratio."""

    on: int
    off: int

    @property
    def ratio(self) -> float:
        return self.on / self.off

    def __str__(self) -> str:
        return f"{self.ratio:6.3f}  ({self.on / 1e9:.2f} / {self.off / 1e9:.2f} G)"


def instructions(directory: Path, on: tuple[str, ...], off: tuple[str, ...]) -> Instructions:
    """The instructions the two runs execute in user space, counted by valgrind
    (callgrind), both runs at once; call it after a warm-up run has written the bytecode
    caches (``paired_rounds`` does one). The CPU time ratio moves by several per cent with
    the load of a shared machine; their ratio does not, though it leaves out the time spent
    in the kernel (the gate's system calls) and what cache misses cost."""
    runs = [start_count(directory, args) for args in (on, off)]
    return Instructions(*(counted(run) for run in runs))
