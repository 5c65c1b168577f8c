"""How long ``gridgate history show`` takes on a large history, and how big its outputs are.

Builds a history of 500 runs of a 10,000-test suite (fixed seed): each run's gate report
made up with the suite's node ids, per-test seconds, failures by category, flaky tests,
leaks, timeouts, memory and now and then a lost module, and turned into its line by the
real code (``record.make_line``, ``trend.judge``, as ``gridgate history add`` does). Then,
each as its own process (the start-up and pygal's import included):

* ``gridgate history show --html OUT --markdown OUT``: seconds, page and block sizes;
* ``gridgate history add REPORT`` of one more 10,000-test run onto that history.

Exit 1 when ``show`` takes 2 s or more, the page is 2 MB or more, or the Markdown block
100 KB or more (issue 19's targets). Run::

    python benchmarks/history_show.py [--runs 500] [--tests 10000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_gridgate.history import record, trend  # noqa: E402
from pytest_gridgate.settings import HistorySettings  # noqa: E402

SHOW_SECONDS = 2.0
PAGE_BYTES = 2_000_000
MARKDOWN_BYTES = 100_000
CATEGORIES = ("assertion", "exception", "setup", "timeout", "leak", "infra")


def suite(tests: int) -> list[str]:
    per_module = 50
    return [
        f"tests/area_{i // 1000}/test_module_{i // per_module}.py::TestThings::"
        f"test_behaviour_{i % per_module}[case-{i % 7}]"
        for i in range(tests)
    ]


def report(
    ids: list[str], run: int, rng: random.Random, seconds: dict[str, float]
) -> dict[str, Any]:
    if run % 50 == 49:  # a module lost now and then
        lost = set(ids[rng.randrange(0, len(ids) - 50) :][:50])
        ids = [n for n in ids if n not in lost]
    failing = rng.sample(ids, rng.choice((0, 0, 0, 1, 3)))
    flaky = rng.sample(ids, rng.choice((0, 0, 1, 2, 5)))
    return {
        "version": 1,
        "outcome": "failed" if failing else "passed",
        "exit_code": 1 if failing else 0,
        "counts": {
            "collected": len(ids),
            "passed": len(ids) - len(failing),
            "failed": len(failing),
        },
        "shard": {"collected_ids": ids, "ran": ids, "collected_digest": f"{run}"},
        "durations": [{"nodeid": n, "seconds": seconds[n] * (1 + run / 1000)} for n in ids],
        "run": {
            "started": f"2026-{1 + run // 60:02d}-01T00:00:00+00:00",
            "wall_seconds": 600 + run,
        },
        "failures": [
            {
                "nodeid": n,
                "when": "call",
                "category": rng.choice(CATEGORIES),
                "exception": "E",
                "message": "",
            }
            for n in failing
        ],
        "flaky": [{"nodeid": n, "attempts": ["failed", "passed"]} for n in flaky],
        "leaks": [{"nodeid": n, "kind": "thread"} for n in rng.sample(ids, rng.choice((0, 0, 1)))],
        "timeouts": [],
        "memory": [
            {"nodeid": "session", "kind": "process", "bytes": rng.randrange(400, 600) * 10**6}
        ],
    }


def build(path: Path, runs: int, tests: int) -> tuple[list[str], dict[str, float], float]:
    rng = random.Random(19)
    ids = suite(tests)
    settings = HistorySettings()
    lines: list[dict[str, Any]] = []
    state: dict[str, Any] = {"version": 1, "branches": {}}
    seconds = {n: rng.lognormvariate(-4, 1.5) for n in ids}
    started = time.perf_counter()
    for run in range(runs):
        data = report(ids, run, rng, seconds)
        line = record.make_line(data, "main", f"{run:040x}")
        judged = trend.judge(line, record.collected_ids(data), lines, state, settings)
        line.update(vanished=judged.vanished[: record.KEPT], vanished_count=len(judged.vanished))
        line["trend"] = {
            "passed": judged.passed,
            "broken": [c.name for c in judged.checks if not c.passed],
        }
        lines.append(line)
        # The ids are what the next run is compared with; the seconds only the last run's.
        state["branches"]["main"] = {"collected_ids": record.collected_ids(data)}
    state["branches"]["main"] = record.state_of(data, lines[-1])
    path.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in lines))
    (path.parent / "history.state.json").write_text(json.dumps(state))
    return ids, seconds, time.perf_counter() - started


def timed(*args: str, repeat: int = 3) -> tuple[float, float]:
    """The best wall time of ``repeat`` runs of the command, and its CPU time (user and
    system) in that run: on a shared machine the CPU time says what the wall time costs
    when the machine is not busy with other work."""
    best = (float("inf"), 0.0)
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "pytest_gridgate.cli", *args],
            check=False,
            capture_output=True,
            timeout=300,
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        best = min(best, (wall, cpu))
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--tests", type=int, default=10_000)
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        history = folder / "history.jsonl"
        ids, seconds, build_seconds = build(history, ns.runs, ns.tests)
        page, block = folder / "page.html", folder / "trend.md"
        show, show_cpu = timed(
            "history",
            "show",
            "--history",
            str(history),
            "--html",
            str(page),
            "--markdown",
            str(block),
        )
        extra = folder / "report.json"
        extra.write_text(json.dumps(report(ids, ns.runs, random.Random(1), seconds)))
        args = ("history", "add", str(extra), "--history", str(history), "--branch", "main")
        add, add_cpu = timed(*args, repeat=1)
        sizes = {
            "history file": history.stat().st_size,
            "state file": (folder / "history.state.json").stat().st_size,
            "page": page.stat().st_size if page.exists() else 0,
            "markdown block": block.stat().st_size if block.exists() else 0,
        }
    print(f"history of {ns.runs} runs of {ns.tests} tests (built in {build_seconds:.1f} s)")
    for name, size in sizes.items():
        print(f"  {name:<15} {size / 1000:9.1f} KB")
    print(
        f"  history show    {show:9.2f} s  wall, best of 3 ({show_cpu:.2f} s CPU): "
        "--html and --markdown, the process's start included"
    )
    print(
        f"  history add     {add:9.2f} s  wall ({add_cpu:.2f} s CPU): one more {ns.tests}-test run"
    )
    failed = []
    if show >= SHOW_SECONDS:
        failed.append(f"show took {show:.2f} s (target under {SHOW_SECONDS} s)")
    if not 0 < sizes["page"] < PAGE_BYTES:
        failed.append(f"page is {sizes['page']} bytes (target under {PAGE_BYTES})")
    if not 0 < sizes["markdown block"] < MARKDOWN_BYTES:
        failed.append(
            f"markdown is {sizes['markdown block']} bytes (target under {MARKDOWN_BYTES})"
        )
    for line in failed:
        print(f"FAIL {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
