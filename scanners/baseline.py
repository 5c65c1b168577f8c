"""The baseline: findings a project has accepted for now, so that only new ones fail.

A finding is known when the baseline has an entry with its rule, its path and its
normalised source (``Finding.source``; the message when a rule leaves it empty): line
numbers play no part, so editing code above a known finding does not resurrect it. Each
entry carries a count, and two identical findings in one file need a count of two.

``--update-baseline`` rewrites the file to exactly the current findings (sorted, stable
JSON, so it diffs well). Entries whose findings are gone are reported as fixed on every
run until the file is updated, so the baseline only ever shrinks unless someone chooses to
accept new findings by updating it, which the summary line then says.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_gridgate.whole_file import write_whole
from scanners.finding import Finding

if TYPE_CHECKING:
    from scanners.output import ScanReport

VERSION = 1

Key = tuple[str, str, str]


class BaselineError(Exception):
    """The baseline file exists but is not a baseline (a usage error, exit 2)."""


def key(finding: Finding) -> Key:
    return (finding.rule, finding.path, finding.source or finding.message)


@dataclass
class Filtered:
    new: list[Finding]
    known: list[Finding]
    fixed: int  # baselined findings that no longer occur


def load(path: Path) -> Counter[Key]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Counter()
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BaselineError(f"{path}: cannot read baseline: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise BaselineError(f"{path}: not a gridgate baseline (version {VERSION})")
    counts: Counter[Key] = Counter()
    for index, entry in enumerate(data.get("findings", [])):
        try:
            counts[(str(entry["rule"]), str(entry["path"]), str(entry["source"]))] += int(
                entry.get("count", 1)
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise BaselineError(f"{path}: findings[{index}]: expected rule, path, source") from None
    return counts


def apply(known: Counter[Key], findings: Iterable[Finding]) -> Filtered:
    remaining = Counter(known)
    new: list[Finding] = []
    accepted: list[Finding] = []
    for finding in findings:
        k = key(finding)
        if remaining[k] > 0:
            remaining[k] -= 1
            accepted.append(finding)
        else:
            new.append(finding)
    return Filtered(new, accepted, sum(remaining.values()))


def dump(findings: Iterable[Finding]) -> str:
    counts = Counter(key(f) for f in findings)
    entries = [
        {"rule": rule, "path": path, "source": source, "count": count}
        for (rule, path, source), count in sorted(counts.items())
    ]
    return json.dumps({"version": VERSION, "findings": entries}, indent=2, sort_keys=True) + "\n"


def write(path: Path, findings: Iterable[Finding]) -> None:
    write_whole(path, dump(findings))


def apply_to_report(report: ScanReport, path: Path, *, update: bool) -> None:
    """``--baseline``: move the known findings out of the report (``--update-baseline``:
    rewrite the file to the current findings first)."""
    if update:
        previous = load(path)
        write(path, report.findings)
        now = load(path)
        added, removed = sum((now - previous).values()), sum((previous - now).values())
        report.notes.append(
            f"Baseline {path}: {sum(now.values())} finding(s) ({added} added, {removed} removed)."
        )
        report.baselined = list(report.findings)
        report.findings.clear()
        return
    filtered = apply(load(path), report.findings)
    report.findings[:] = filtered.new
    report.baselined = filtered.known
    report.baseline_fixed = filtered.fixed
