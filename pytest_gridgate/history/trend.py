"""The trend gate: a new run against the earlier runs of its branch. Pure functions.

The baseline is the branch's own history, or the default branch's when the branch has
none yet (a new pull request is compared with main). Four checks, each one verdict line:

* ``vanished``: tests the baseline collected that this run did not, listed by node id;
  more than ``max_vanished`` (a count, or a share of the baseline's tests when under 1)
  fails. The baseline's ids are the last *accepted* run's, so re-running a job that lost a
  module fails again rather than turning green on the second try.
* ``duration``: the wall time over the median of the last ``window`` runs by more than
  ``max_duration_increase``.
* ``flaky``: the share of flaky tests over the window's median by more than
  ``max_flaky_increase``.
* ``leaks``: the leak count over the window's median by more than ``max_leak_increase``.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, NamedTuple

from pytest_gridgate.settings import HistorySettings

SHOWN = 20  # node ids listed per verdict before "... and N more"
MIN_SECONDS = 0.5  # a wall time this close to the median never fails the duration check


class Check(NamedTuple):
    name: str
    passed: bool
    summary: str
    details: list[str]
    short: str = ""  # in the one-line verdict of a passing trend


class Trend(NamedTuple):
    checks: list[Check]
    baseline: str  # the branch compared with, "" for none
    vanished: list[str]
    added: int

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def lines(self) -> list[str]:
        out = []
        for c in self.checks:
            out.append(f"{'PASS' if c.passed else 'FAIL'} {c.name:<9}{c.summary}")
            out += [f"    {d}" for d in _capped(c.details)]
        return out

    def verdict(self) -> dict[str, Any]:
        """The ``history`` verdict of a gate report."""
        failed = [c for c in self.checks if not c.passed]
        if failed:
            summary = "; ".join(f"{c.name}: {c.summary}" for c in failed)
        else:
            summary = ", ".join(c.short or c.summary for c in self.checks)
            summary = f"against {self.baseline!r}: {summary}" if self.baseline else summary
        details = [f"{c.name}: {d}" for c in self.checks for d in _capped(c.details)]
        return {"gate": "history", "passed": not failed, "summary": summary, "details": details}

    def section(self) -> dict[str, Any]:
        """The ``history`` section of a gate report."""
        return {
            "baseline": self.baseline,
            "vanished": self.vanished,
            "added": self.added,
            "checks": [
                {"name": c.name, "passed": c.passed, "summary": c.summary} for c in self.checks
            ],
        }


def _capped(items: list[str]) -> list[str]:
    if len(items) <= SHOWN:
        return items
    return [*items[:SHOWN], f"... and {len(items) - SHOWN} more"]


def baseline_branch(
    branch: str, lines: list[dict[str, Any]], state: dict[str, Any], default: str
) -> str:
    """The branch itself when it has history, else the default branch, else ""."""
    for name in (branch, default):
        if name in state.get("branches", {}) or any(e["branch"] == name for e in lines):
            return name
    return ""


def vanished_limit(max_vanished: float, before: int) -> int:
    """How many vanished tests pass: a count, or a share of the ``before`` tests."""
    if max_vanished >= 1:
        return int(max_vanished)
    return math.floor(max_vanished * before)


def _share(n: int, of: int) -> float:
    return n / of if of else 0.0


def judge(
    line: dict[str, Any],
    collected: list[str] | None,
    lines: list[dict[str, Any]],
    state: dict[str, Any],
    settings: HistorySettings,
) -> Trend:
    """The trend of the run ``line`` (its collected ids ``collected``) against ``lines``
    (earlier runs, oldest first) and ``state`` (per-branch collected ids)."""
    base = baseline_branch(line["branch"], lines, state, settings.default_branch)
    if not base:
        note = f"first run of {line['branch']!r}: nothing to compare with yet"
        return Trend([Check("history", True, note, [])], "", [], 0)
    window = [e for e in lines if e["branch"] == base][-settings.window :]
    of = f"{base!r}" if base == line["branch"] else f"default branch {base!r}"
    checks = []

    before = state.get("branches", {}).get(base, {}).get("collected_ids")
    vanished: list[str] = []
    added = 0
    if collected is None:
        checks.append(Check("vanished", True, "not judged: the report lists no test ids", []))
    elif not isinstance(before, list):
        checks.append(Check("vanished", True, f"not judged: no collected ids of {of} kept", []))
    else:
        now = set(collected)
        vanished = [n for n in before if n not in now]
        added = len(now.difference(before))
        limit = vanished_limit(settings.max_vanished, len(before))
        summary = (
            f"{len(vanished)} of {len(before)} tests collected before are gone "
            f"(limit {limit}), {added} new"
        )
        short = f"{len(vanished)} vanished (limit {limit})"
        checks.append(Check("vanished", len(vanished) <= limit, summary, vanished, short))

    if not window:
        checks.append(Check("duration", True, f"no earlier run of {of} to time against", []))
    else:
        median = statistics.median(float(e.get("wall", 0.0)) for e in window)
        wall = float(line["wall"])
        limit_s = median * (1 + settings.max_duration_increase)
        change = f"{(wall / median - 1) * 100:+.0f}%" if median else "n/a"
        summary = (
            f"{wall:.1f} s, median of {len(window)} runs of {of} {median:.1f} s ({change}, "
            f"limit +{settings.max_duration_increase * 100:g}%)"
        )
        # Under half a second of difference is noise, whatever the share.
        duration_ok = wall <= limit_s or wall - median < MIN_SECONDS
        short = f"{wall:.1f} s (median {median:.1f} s)"
        checks.append(Check("duration", duration_ok, summary, [], short))

        rate = _share(int(line["flaky_count"]), int(line["ran"]))
        rates = [_share(int(e.get("flaky_count", 0)), int(e.get("ran", 0))) for e in window]
        usual = statistics.median(rates)
        summary = (
            f"{rate * 100:.2f}% of tests flaky, median {usual * 100:.2f}% "
            f"(limit +{settings.max_flaky_increase * 100:g} points)"
        )
        flaky_ok = rate <= usual + settings.max_flaky_increase
        short = f"{rate * 100:.2f}% flaky"
        checks.append(Check("flaky", flaky_ok, summary, [] if flaky_ok else line["flaky"], short))

        leaks = int(line["leaks"])
        usual_leaks = statistics.median(int(e.get("leaks", 0)) for e in window)
        summary = f"{leaks} leaks, median {usual_leaks:g} (limit +{settings.max_leak_increase})"
        leaks_ok = leaks <= usual_leaks + settings.max_leak_increase
        checks.append(Check("leaks", leaks_ok, summary, [], f"{leaks} leaks"))
    return Trend(checks, base, vanished, added)
