"""``gridgate merge REPORT... [--report OUT] [--summary OUT] [--durations OUT]``.

Turns the gate reports of a sharded run into the one verdict of the whole run, after
checking that the shards really are one whole run: every shard of 1..N present once, all
with the same N, all having collected the same tests (the same digest), and every one of
those tests run on exactly one shard. Anything else is exit 2 with what is wrong, since
a green merge of an incomplete run is exactly the silent loss sharding must not allow.

Otherwise the merged report has the schema of a single run's (it is one: shard 1/1, with
``merged`` saying how many shards it came from), the terminal shows the same gate section
as pytest does, and the exit status is 0 when every gate passed, 1 when one failed.
``--durations OUT`` updates a durations file with what was measured; tests that did not
run keep their previous seconds. Standard library only: the gate job of a workflow runs
this without installing pytest's plugins' dependencies being needed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_gridgate import report_format
from pytest_gridgate.partition import DurationsError, read_durations
from pytest_gridgate.whole_file import write_whole

# Detail lines shown per refusal before "... and N more".
_SHOWN = 20
_NOT_WHOLE = 2


class MergeError(Exception):
    """The reports are not one whole run, or one is not a gridgate report: exit 2."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class ShardReport:
    def __init__(self, path: str, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data
        shard = data["shard"]
        self.index: int = shard["index"]
        self.total: int = shard["total"]
        self.digest: str = shard["collected_digest"]
        self.collected_ids: list[str] = shard.get("collected_ids", [])
        self.ran: list[str] = shard["ran"]

    @property
    def name(self) -> str:
        return f"{self.index}/{self.total}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gridgate merge",
        description="Check that shard reports make one whole run and merge them into one.",
        epilog="Exit codes: 0 every gate passed, 1 a gate failed, "
        "2 the shards are not one whole run or a report is unusable.",
    )
    parser.add_argument("reports", nargs="+", metavar="REPORT", help="a shard's JSON report")
    parser.add_argument("--report", metavar="OUT", help="write the merged JSON report")
    parser.add_argument(
        "--summary",
        metavar="OUT",
        help="write the Markdown summary (default: append to $GITHUB_STEP_SUMMARY if set)",
    )
    parser.add_argument(
        "--history",
        metavar="PATH",
        help="judge the merged run against this history (docs/history.md)",
    )
    parser.add_argument(
        "--durations",
        metavar="OUT",
        help="update the durations file OUT with the measured seconds",
    )
    return parser


# --------------------------------------------------------------------------- reading


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def read_report(path: str) -> ShardReport:
    """One shard's report, checked for what merging needs; a MergeError names the path."""
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except (OSError, UnicodeDecodeError) as exc:
        raise MergeError([f"{path}: cannot read: {exc.__class__.__name__}: {exc}"]) from None
    except ValueError as exc:
        raise MergeError([f"{path}: not valid JSON: {exc}"]) from None
    if not isinstance(data, dict) or data.get("version") != 1 or "counts" not in data:
        raise MergeError([f"{path}: not a gridgate JSON report (version 1)"])
    shard = data.get("shard")
    if not isinstance(shard, dict):
        raise MergeError([f"{path}: a gridgate report without a 'shard' section"])
    ok = (
        all(
            isinstance(shard.get(k), int) and not isinstance(shard.get(k), bool)
            for k in ("index", "total", "collected")
        )
        and isinstance(shard.get("collected_digest"), str)
        and _is_str_list(shard.get("ran"))
        and _is_str_list(shard.get("collected_ids", []))
        and isinstance(data.get("durations", []), list)
        and isinstance(data.get("exit_code"), int)
        and isinstance(data["counts"], dict)
    )
    if not ok or not 1 <= shard["index"] <= shard["total"]:
        raise MergeError([f"{path}: a malformed 'shard' section or report"])
    return ShardReport(path, data)


# --------------------------------------------------------------------------- checking


def _capped(lines: list[str]) -> list[str]:
    if len(lines) <= _SHOWN:
        return lines
    return [*lines[:_SHOWN], f"... and {len(lines) - _SHOWN} more"]


def check_whole(reports: list[ShardReport]) -> None:
    """Raise MergeError listing every way the reports fail to be one whole run."""
    problems: list[str] = []
    totals = sorted({r.total for r in reports})
    if len(totals) > 1:
        listed = ", ".join(f"{r.path} says {r.total}" for r in reports)
        raise MergeError([f"the reports disagree on the number of shards N: {listed}"])
    total = totals[0]
    by_index: dict[int, list[ShardReport]] = {}
    for r in reports:
        by_index.setdefault(r.index, []).append(r)
    for index, same in sorted(by_index.items()):
        if len(same) > 1:
            paths = ", ".join(r.path for r in same)
            problems.append(f"shard {index}/{total} given {len(same)} times: {paths}")
    missing = [i for i in range(1, total + 1) if i not in by_index]
    if missing:
        names = ", ".join(f"{i}/{total}" for i in missing)
        problems.append(
            f"shard{'s' if len(missing) > 1 else ''} {names} missing "
            f"(got {len(by_index)} of {total})"
        )
    if problems:
        raise MergeError(problems)

    digests = {r.digest for r in reports}
    if len(digests) > 1:
        raise MergeError(_diverging_collection(reports))

    shard_of: dict[str, list[str]] = {}
    for r in reports:
        for nodeid in dict.fromkeys(r.ran):
            shard_of.setdefault(nodeid, []).append(r.name)
    collected = reports[0].collected_ids
    never = [n for n in collected if n not in shard_of]
    twice = [f"{n} (shards {', '.join(s)})" for n, s in shard_of.items() if len(s) > 1]
    if never:
        problems.append(f"{len(never)} collected test(s) ran on no shard:")
        problems += [f"  {n}" for n in _capped(never)]
    if twice:
        problems.append(f"{len(twice)} test(s) ran on more than one shard:")
        problems += [f"  {n}" for n in _capped(twice)]
    if problems:
        raise MergeError(problems)


def _diverging_collection(reports: list[ShardReport]) -> list[str]:
    everywhere = set.intersection(*(set(r.collected_ids) for r in reports))
    problems = ["the shards collected different tests (collected digests differ):"]
    lines = []
    seen: set[str] = set()
    for r in reports:
        for nodeid in r.collected_ids:
            if nodeid in everywhere or nodeid in seen:
                continue
            seen.add(nodeid)
            on = [s.name for s in reports if nodeid in set(s.collected_ids)]
            off = [s.name for s in reports if s.name not in on]
            lines.append(f"  {nodeid}: collected on {', '.join(on)}, not on {', '.join(off)}")
    if not lines:  # same ids, yet different digests: a report was edited
        lines = [f"  {r.path}: digest {r.digest[:12]}" for r in reports]
    return problems + _capped(lines)


# --------------------------------------------------------------------------- merging


def _exit_code(codes: list[int]) -> int:
    if all(code == 0 for code in codes):
        return 0
    # Worst first: internal error, usage error, an invalid run, failed tests.
    for code in (3, 4, 2, 1):
        if code in codes:
            return code
    return max(codes)


def merge(reports: list[ShardReport]) -> dict[str, Any]:
    """The whole run's report, in the same schema as one run's."""
    reports = sorted(reports, key=lambda r: r.index)
    datas = [r.data for r in reports]
    first = datas[0]

    counts: dict[str, int] = dict.fromkeys(report_format.COUNTS, 0)
    # Every shard collected the whole suite (and applied the same -k/-m).
    counts["collected"] = max(int(d["counts"].get("collected", 0)) for d in datas)
    counts["deselected"] = int(first["counts"].get("deselected", 0))
    collection_errors: dict[str, dict[str, Any]] = {}
    for d in datas:
        for entry in d.get("collection_errors", []):
            collection_errors.setdefault(str(entry.get("nodeid")), entry)
        for key, value in d["counts"].items():
            if key in ("collected", "deselected") or not isinstance(value, int):
                continue
            counts[key] = counts.get(key, 0) + value
        # A collection error is in every shard's ``errors``; it counts once.
        counts["errors"] -= len(d.get("collection_errors", []))
    counts["errors"] += len(collection_errors)

    exit_code = _exit_code([int(d["exit_code"]) for d in datas])
    merged: dict[str, Any] = {
        "version": 1,
        "outcome": report_format.outcome(exit_code),
        "exit_code": exit_code,
        "counts": counts,
    }
    skip = {"version", "outcome", "exit_code", "counts", "env", "gates", "shard"}
    for d in datas:
        for key, value in d.items():
            if key in skip or not isinstance(value, list):
                continue
            if key == "collection_errors":
                merged[key] = list(collection_errors.values())
            else:
                merged.setdefault(key, []).extend(value)
    merged.setdefault("collection_errors", list(collection_errors.values()))
    shard = first["shard"]
    ran = [n for r in reports for n in dict.fromkeys(r.ran)]
    merged["shard"] = {
        "index": 1,
        "total": 1,
        "collected": shard["collected"],
        "collected_digest": shard["collected_digest"],
        "ran": ran,
        "collected_ids": list(shard.get("collected_ids", [])),
        "merged": len(reports),
    }
    env: dict[str, list[str]] = {}
    for d in datas:
        for key, names in (d.get("env") or {}).items():
            bucket = env.setdefault(key, [])
            bucket += [n for n in names if n not in bucket]
    merged["env"] = env or {"applied": [], "kept": []}
    runs = [d["run"] for d in datas if isinstance(d.get("run"), dict)]
    if runs:  # the shards ran side by side: the whole run took as long as the longest
        merged["run"] = {
            "started": min(str(r.get("started", "")) for r in runs),
            "wall_seconds": max(float(r.get("wall_seconds", 0)) for r in runs),
        }
    merged["gates"] = _merge_gates(reports, len(ran))
    report_format.set_tests_verdict(merged)
    return merged


def _merge_gates(reports: list[ShardReport], ran: int) -> list[dict[str, Any]]:
    names: list[str] = []
    verdicts: dict[str, list[tuple[ShardReport, dict[str, Any]]]] = {}
    for r in reports:
        for g in r.data.get("gates", []):
            if g.get("gate") not in verdicts:
                names.append(g["gate"])
            verdicts.setdefault(g["gate"], []).append((r, g))
    total = len(reports)
    gates = []
    for name in names:
        if name == "tests":
            continue  # judged again from the merged counts
        entries = verdicts[name]
        if name == "shard":
            summary = f"{total} shard{'s' if total != 1 else ''}, {ran} tests, each ran once"
            gates.append({"gate": name, "passed": True, "summary": summary, "details": []})
            continue
        passed = all(g.get("passed") for _, g in entries)
        summaries = list(dict.fromkeys(str(g.get("summary", "")) for _, g in entries))
        if len(summaries) == 1:
            summary = summaries[0]
        else:
            summary = "; ".join(f"shard {r.name}: {g.get('summary', '')}" for r, g in entries)
        details = list(dict.fromkeys(d for _, g in entries for d in g.get("details", [])))
        gates.append({"gate": name, "passed": passed, "summary": summary, "details": details})
    return gates


def update_durations(path: Path, merged: dict[str, Any]) -> str:
    """Merge the measured seconds into the durations file at ``path``; a warning or ""."""
    warning = ""
    previous: dict[str, float] = {}
    if path.exists():
        try:
            previous = read_durations(path)
        except DurationsError as exc:
            warning = f"gridgate merge: warning: previous durations file {exc}; starting anew"
    for entry in merged.get("durations", []):
        previous[str(entry["nodeid"])] = round(float(entry["seconds"]), 6)
    # Whole or not at all: the next run's shards all read this file.
    write_whole(path, json.dumps(dict(sorted(previous.items())), indent=1) + "\n")
    return warning


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        reports = [read_report(path) for path in args.reports]
        check_whole(reports)
    except MergeError as exc:
        for line in exc.problems:
            print(
                f"gridgate merge: error: {line}" if not line.startswith(" ") else line,
                file=sys.stderr,
            )
        print("gridgate merge: not one whole run; nothing merged (exit 2)", file=sys.stderr)
        return _NOT_WHOLE
    merged = merge(reports)
    if args.history:
        from pytest_gridgate.history.gate import apply
        from pytest_gridgate.settings import ConfigError, load_config

        try:
            apply(merged, Path(args.history), load_config().history)
        except ConfigError as exc:
            print(f"gridgate merge: error: {exc}", file=sys.stderr)
            return _NOT_WHOLE
    summary = args.summary or os.environ.get("GITHUB_STEP_SUMMARY") or None
    # An output that cannot be written is a failed "report" verdict in the other outputs
    # and in the terminal section, and exit 2: the gate job must not pass without it.
    problems = report_format.write_files(merged, args.report, summary, args.summary is None)
    if args.durations:
        try:
            warning = update_durations(Path(args.durations), merged)
        except OSError as exc:
            problems.append(f"cannot write the durations file to {args.durations}: {exc}")
        else:
            if warning:
                print(warning, file=sys.stderr)
    title = f" gridgate (merged {len(reports)} shard{'s' if len(reports) != 1 else ''}) "
    print(f"{title:=^80}")
    for line in report_format.terminal_lines(merged):
        print(line)
    for problem in problems:
        print(f"gridgate merge: error: {problem}", file=sys.stderr)
    if problems:
        return _NOT_WHOLE
    failed = merged["exit_code"] != 0 or not all(g["passed"] for g in merged["gates"])
    return 1 if failed else 0
