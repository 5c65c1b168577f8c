"""One run as a history line, from its gate report (a merged shard report too).

Standard library only. The line keeps what the charts and the trend gate need, in a size
that does not grow with the suite: counts, times, failures per category, the flaky and
vanished tests capped at :data:`KEPT` ids, the slowest tests. The collected ids and
per-test seconds go to the state file instead (:func:`state_of`).

Sections another gate adds later (``failures``, ``flaky``) are read when present and are
empty when absent, so reports written before them still make a line.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

from pytest_gridgate.history.store import LINE_VERSION, HistoryError

KEPT = 50  # node ids kept per list in one line (flaky, vanished)
SLOWEST = 10
_GIT_SECONDS = 10


def read_report(path: Path) -> dict[str, Any]:
    """A gate report checked for what a line needs; HistoryError names the path."""
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise HistoryError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != 1:
        raise HistoryError(f"{path}: not a gridgate JSON report (version 1)")
    counts = data.get("counts")
    if not isinstance(counts, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in counts.values()
    ):
        raise HistoryError(f"{path}: a gridgate report without valid 'counts'")
    for key in ("durations", "failures", "flaky", "leaks", "timeouts", "memory"):
        entries = data.get(key, [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise HistoryError(f"{path}: '{key}' is not a list of objects")
    shard = data.get("shard", {})
    ids = shard.get("collected_ids", []) if isinstance(shard, dict) else None
    if not isinstance(ids, list) or not all(isinstance(n, str) for n in ids):
        raise HistoryError(f"{path}: a malformed 'shard' section")
    return data


def _git(*args: str) -> str:
    try:
        result = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=_GIT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def where(branch: str | None = None, commit: str | None = None) -> tuple[str, str]:
    """The run's branch and commit: given, else GitHub Actions' variables, else git's."""
    if not branch:
        # A pull request's GITHUB_REF_NAME is "123/merge"; its head branch is the name.
        branch = os.environ.get("GITHUB_HEAD_REF") or os.environ.get("GITHUB_REF_NAME") or ""
        branch = branch or _git("branch", "--show-current") or "unknown"
    if not commit:
        commit = os.environ.get("GITHUB_SHA") or _git("rev-parse", "HEAD")
    return branch, commit


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def collected_ids(report: dict[str, Any]) -> list[str] | None:
    """The collected node ids, or None for a report that does not list them."""
    shard = report.get("shard")
    if not isinstance(shard, dict) or "collected_ids" not in shard:
        return None
    return list(shard["collected_ids"])


def seconds_of(report: dict[str, Any]) -> dict[str, float]:
    seconds: dict[str, float] = {}
    for entry in report.get("durations", []):
        value = entry.get("seconds")
        if isinstance(entry.get("nodeid"), str) and isinstance(value, (int, float)):
            seconds[entry["nodeid"]] = seconds.get(entry["nodeid"], 0.0) + float(value)
    return seconds


def _failures(report: dict[str, Any]) -> dict[str, int]:
    if "failures" not in report:
        # A report from before failure categories: its failed tests, uncategorised.
        counts = report["counts"]
        failed = counts.get("failed", 0) + counts.get("errors", 0)
        return {"uncategorised": failed} if failed else {}
    per: dict[str, int] = {}
    for entry in report["failures"]:
        category = str(entry.get("category") or "uncategorised")
        per[category] = per.get(category, 0) + 1
    return per


def make_line(
    report: dict[str, Any], branch: str, commit: str, now: datetime.datetime | None = None
) -> dict[str, Any]:
    """The history line of one run (without its trend, which :mod:`trend` adds)."""
    counts = {k: v for k, v in report["counts"].items() if v}
    seconds = seconds_of(report)
    run = report.get("run")
    if not isinstance(run, dict):
        run = {}
    test_seconds = round(sum(seconds.values()), 3)
    wall = run.get("wall_seconds")
    started = run.get("started")
    if not isinstance(started, str):
        started = (now or datetime.datetime.now(datetime.timezone.utc)).isoformat(
            timespec="seconds"
        )
    ids = collected_ids(report)
    shard = report.get("shard")
    if not isinstance(shard, dict):
        shard = {}
    ran = len(shard.get("ran", ())) or sum(
        counts.get(k, 0) for k in ("passed", "failed", "xfailed", "xpassed")
    )
    # The flaky section also lists tests that failed every attempt (outcome "failed"):
    # those are failures, counted by category, not flaky.
    flaky = [
        str(e.get("nodeid"))
        for e in report.get("flaky", [])
        if e.get("outcome", "flaky") == "flaky"
    ]
    peaks = [
        int(e["bytes"])
        for e in report.get("memory", [])
        if isinstance(e.get("bytes"), int) and e.get("kind") in ("process", "peak")
    ]
    slowest = sorted(seconds.items(), key=lambda item: -item[1])[:SLOWEST]
    return {
        "v": LINE_VERSION,
        "time": started,
        "branch": branch,
        "commit": commit,
        "outcome": str(report.get("outcome", "")),
        "counts": counts,
        "collected": len(ids) if ids is not None else int(report["counts"].get("collected", 0)),
        "digest": str(shard.get("collected_digest", "")),
        "ran": ran,
        # A report without the run's own clock (older ones): the tests' seconds.
        "wall": round(float(wall), 3) if isinstance(wall, (int, float)) else test_seconds,
        "test_seconds": test_seconds,
        "p95": round(_percentile(list(seconds.values()), 0.95), 4),
        "failures": _failures(report),
        "flaky": flaky[:KEPT],
        "flaky_count": len(flaky),
        "leaks": len(report.get("leaks", [])),
        "timeouts": len(report.get("timeouts", [])),
        "memory_peak": max(peaks, default=0),
        "slowest": [[nodeid, round(s, 4)] for nodeid, s in slowest],
    }


def state_of(report: dict[str, Any], line: dict[str, Any]) -> dict[str, Any] | None:
    """What the next run of the branch is compared with; None without collected ids."""
    ids = collected_ids(report)
    if ids is None:
        return None
    return {
        "time": line["time"],
        "commit": line["commit"],
        "collected_ids": ids,
        "durations": {n: round(s, 4) for n, s in seconds_of(report).items()},
    }
