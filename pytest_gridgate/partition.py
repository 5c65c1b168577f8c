"""Sharing a suite out over N shards: pure functions, no pytest import.

Every shard computes the whole partition itself from the same two inputs (the collected
node ids and the durations file) and keeps its own part, so no coordinator is needed and
every shard agrees. That only holds if nothing here depends on the order of collection,
on hashing or on the process: units are ordered by (estimated seconds, name), ties go to
the lowest shard index, and float sums are taken in that same order.

The partition is "longest processing time first": the longest unit goes to the shard with
the least work so far. A short local search then moves or swaps units between the
heaviest shard and the others while that lowers the heaviest shard, so the result is
never worse than plain LPT (pytest-split's ``least_duration``).
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "DurationsError",
    "Shard",
    "ShardSpecError",
    "class_key",
    "collected_digest",
    "estimates",
    "module_key",
    "parse_shard",
    "partition",
    "read_durations",
]

# Seconds given to every test when nothing is known: the partition then balances counts.
UNKNOWN_SECONDS = 1.0
# Improvements smaller than this are float noise, not worth a move (and would never stop).
_EPSILON = 1e-9
# The local search's bounds: steps, and the lightest shards each step tries to give to.
_MAX_STEPS = 256
_PARTNERS = 3


class ShardSpecError(ValueError):
    """A ``K/N`` value that does not name a shard."""


class DurationsError(ValueError):
    """A durations file that cannot be used; the message names the file and the problem."""


class Shard:
    """Shard ``index`` (1-based, as a GitHub matrix counts) of ``total``."""

    __slots__ = ("index", "total")

    def __init__(self, index: int, total: int) -> None:
        self.index = index
        self.total = total

    def __repr__(self) -> str:
        return f"{self.index}/{self.total}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Shard) and (self.index, self.total) == (other.index, other.total)

    def __hash__(self) -> int:
        return hash((self.index, self.total))


def parse_shard(value: str) -> Shard:
    """``"2/4"`` -> ``Shard(2, 4)``; anything else is a :class:`ShardSpecError`."""
    index_text, slash, total_text = value.strip().partition("/")
    if not slash or not index_text.strip().isdigit() or not total_text.strip().isdigit():
        raise ShardSpecError(f"expected K/N with whole numbers, 1 <= K <= N, got {value!r}")
    index, total = int(index_text), int(total_text)
    if total < 1 or not 1 <= index <= total:
        raise ShardSpecError(f"expected K/N with 1 <= K <= N, got {value!r}")
    return Shard(index, total)


def collected_digest(nodeids: Iterable[str]) -> str:
    """sha256 of the sorted node ids, one per line: equal digests, equal collections."""
    return hashlib.sha256("\n".join(sorted(nodeids)).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- durations


def read_durations(path: Path) -> dict[str, float]:
    """Per-test seconds from a durations file.

    Accepted: a JSON object ``{nodeid: seconds}`` (what ``gridgate merge --durations``
    writes, and pytest-split's ``.test_durations``), a list of ``{"nodeid", "seconds"}``,
    or a gridgate report (its ``durations`` section).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DurationsError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DurationsError(f"{path}: cannot read: {exc}") from None
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise DurationsError(f"{path}: not valid JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("durations"), list):
        data = data["durations"]
    if isinstance(data, list):
        pairs: list[tuple[Any, Any]] = []
        for i, entry in enumerate(data):
            if not isinstance(entry, dict) or "nodeid" not in entry or "seconds" not in entry:
                raise DurationsError(f"{path}: entry {i} is not {{nodeid, seconds}}")
            pairs.append((entry["nodeid"], entry["seconds"]))
    elif isinstance(data, dict):
        pairs = list(data.items())
    else:
        raise DurationsError(f"{path}: expected an object of node id -> seconds")
    durations: dict[str, float] = {}
    for nodeid, seconds in pairs:
        if (
            not isinstance(nodeid, str)
            or isinstance(seconds, bool)
            or not isinstance(seconds, (int, float))
            or not seconds >= 0  # also NaN
            or seconds == float("inf")
        ):
            raise DurationsError(f"{path}: {nodeid!r}: expected seconds >= 0, got {seconds!r}")
        durations[nodeid] = float(seconds)
    return durations


def module_key(nodeid: str) -> str:
    return nodeid.partition("::")[0]


def class_key(nodeid: str) -> str:
    """The class a test belongs to (``path::Class``), or the test itself outside one."""
    base = nodeid.partition("[")[0]  # parameter ids may hold anything
    parts = base.split("::")
    return "::".join(parts[:-1]) if len(parts) > 2 else nodeid


def estimates(nodeids: Sequence[str], durations: Mapping[str, float]) -> dict[str, float]:
    """Seconds for each test: measured, else the median of its module's measured tests,
    else the median of every measured test of the suite, else one second (all equal).

    A module's own tests are the best guess for a new test (same fixtures, same kind of
    work); the median rather than the mean, so one slow test does not make every new
    neighbour slow.
    """
    # Imported here, not at the top: every run imports this module (the shard gate), and
    # statistics (with fractions) is only needed by a sharded run.
    import statistics

    by_module: dict[str, list[float]] = {}
    for nodeid, seconds in durations.items():
        by_module.setdefault(module_key(nodeid), []).append(seconds)
    known = [durations[n] for n in nodeids if n in durations]
    suite_median = statistics.median(known) if known else UNKNOWN_SECONDS
    module_median = {module: statistics.median(values) for module, values in by_module.items()}
    return {
        n: durations[n] if n in durations else module_median.get(module_key(n), suite_median)
        for n in nodeids
    }


# --------------------------------------------------------------------------- the partition


def partition(
    nodeids: Sequence[str],
    total: int,
    seconds: Mapping[str, float],
    group: Mapping[str, str] | None = None,
) -> list[list[str]]:
    """Share ``nodeids`` out over ``total`` shards; shard ``k`` (1-based) is ``result[k-1]``.

    ``seconds`` estimates each test; ``group`` maps a test to the unit it must share a
    shard with (tests of a module-scoped fixture); by default each test is its own unit.
    Each shard lists its tests in the order of ``nodeids``.
    """
    units: dict[str, list[str]] = {}
    for nodeid in nodeids:
        units.setdefault(group.get(nodeid, nodeid) if group else nodeid, []).append(nodeid)
    weights = {key: sum(seconds[n] for n in members) for key, members in units.items()}
    order = sorted(units, key=lambda key: (-weights[key], key))

    loads = [0.0] * total
    assigned: list[list[str]] = [[] for _ in range(total)]
    heap = [(0.0, index) for index in range(total)]
    for key in order:
        load, index = heapq.heappop(heap)
        assigned[index].append(key)
        loads[index] = load + weights[key]
        heapq.heappush(heap, (loads[index], index))
    _improve(assigned, loads, weights)

    position = {nodeid: i for i, nodeid in enumerate(nodeids)}
    shards = []
    for keys in assigned:
        members = [n for key in keys for n in units[key]]
        members.sort(key=position.__getitem__)
        shards.append(members)
    return shards


def _improve(assigned: list[list[str]], loads: list[float], weights: Mapping[str, float]) -> None:
    """Lower the heaviest shard by moving one unit to, or swapping one with, another shard.

    Stops when no move or swap lowers it (or after a bound that only matters for huge,
    pathological inputs). Each step keeps both shards below the old maximum, so the
    maximum never rises.
    """
    # Bounded so that a suite of tens of thousands of tests still partitions in well under
    # a second on every shard: a few hundred steps, each against the few lightest shards,
    # and none once the heaviest shard is within a millionth of the mean (nothing left
    # worth a step; after longest-first that is where large suites already are).
    mean = sum(loads) / len(loads)
    for _ in range(min(4 * sum(len(keys) for keys in assigned) + 16, _MAX_STEPS)):
        heaviest = max(range(len(loads)), key=lambda i: (loads[i], -i))
        if loads[heaviest] <= mean * (1 + 1e-6):
            return
        best: tuple[float, int, str, str | None] | None = None
        lightest = sorted(range(len(loads)), key=lambda i: (loads[i], i))[:_PARTNERS]
        for other in lightest:
            if other == heaviest:
                continue
            gap = loads[heaviest] - loads[other]
            if gap <= _EPSILON:
                break
            move = _best_exchange(assigned[heaviest], assigned[other], weights, gap)
            if move is not None and (best is None or move[0] < best[0]):
                best = (move[0], other, move[1], move[2])
        if best is None:
            return
        _, other, out_key, in_key = best
        delta = weights[out_key] - (weights[in_key] if in_key is not None else 0.0)
        assigned[heaviest].remove(out_key)
        assigned[other].append(out_key)
        if in_key is not None:
            assigned[other].remove(in_key)
            assigned[heaviest].append(in_key)
        loads[heaviest] -= delta
        loads[other] += delta


def _best_exchange(
    heavy: list[str], light: list[str], weights: Mapping[str, float], gap: float
) -> tuple[float, str, str | None] | None:
    """The move (``in_key`` None) or swap that leaves the larger of the two shards
    smallest, as (its remaining excess over an even split, out_key, in_key); None when
    nothing lowers the heavy shard without making the light one as heavy."""
    # Moving d from heavy to light helps when 0 < d < gap; best when d is gap / 2.
    target = gap / 2
    candidates: list[tuple[float, str, str | None]] = []
    light_sorted = sorted(light, key=lambda key: (weights[key], key))
    light_weights = [weights[key] for key in light_sorted]
    for key in sorted(heavy):
        w = weights[key]
        options: list[tuple[float, str | None]] = [(w, None)]
        # Swap partners whose weight is near w - target.
        at = bisect.bisect_left(light_weights, w - target)
        for j in (at - 1, at):
            if 0 <= j < len(light_sorted):
                options.append((w - light_weights[j], light_sorted[j]))
        for delta, in_key in options:
            if _EPSILON < delta < gap - _EPSILON:
                candidates.append((abs(delta - target), key, in_key))
    if not candidates:
        return None
    return min(candidates, key=lambda c: (c[0], c[1], c[2] or ""))
