"""The shard gate: run one part of the suite (``--gridgate-shard K/N``), honestly.

Every shard collects the whole suite, so the collection gate still sees every module on
every machine. Then each shard computes the same partition (see
:mod:`pytest_gridgate.partition`) from the collected node ids and the durations file, and
keeps its own part. Tests given to other shards are not reported through pytest's
``pytest_deselected`` (that would mix them with ``-k``/``-m`` deselection in every count):
the ``shard`` section and verdict of the gate report account for them.

Every run, sharded or not, writes the ``shard`` section (index, total, how many tests were
shared out, their digest and ids, the ids this shard ran) and the ``durations`` section
(setup + call + teardown seconds of every test that ran). ``gridgate merge`` checks the
shards' reports against each other with these; an unsharded run is shard 1/1.

"Collected" here means what the shards share out: the collected tests less what
``-k``/``-m``/``--deselect`` removed, which is the same on every shard given the same
command line. ``collection.min_tests`` is still judged on the whole collected suite (by
the collection gate), and a shard left with nothing to run passes with 0 tests.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pytest_gridgate import partition
from pytest_gridgate._compat import item_fixture_defs
from pytest_gridgate.config import get_config
from pytest_gridgate.report import GateReport, read_test_reports

ENV_SHARD = "GRIDGATE_SHARD"
# xdist worker -> controller: what the worker collected and kept.
_WORKER_OUTPUT = "gridgate_shard"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gridgate")
    group.addoption(
        "--gridgate-shard",
        metavar="K/N",
        help="run shard K of N (1-based) of the collected tests (env: GRIDGATE_SHARD; "
        "default: the whole suite)",
    )
    group.addoption(
        "--gridgate-durations",
        metavar="PATH",
        help="per-test seconds that balance the shards (config: shard.durations, env: "
        "GRIDGATE_SHARD_DURATIONS; default: none, balanced by test count)",
    )


def chosen_shard(config: pytest.Config) -> partition.Shard | None:
    """The shard this run is, from the option or ``GRIDGATE_SHARD``; a bad value is a usage
    error naming where it came from (exit 4)."""
    value = config.known_args_namespace.gridgate_shard
    source = "--gridgate-shard"
    if value is None:
        value = os.environ.get(ENV_SHARD)
        source = f"environment variable {ENV_SHARD}"
    if value is None or (source != "--gridgate-shard" and not value.strip()):
        return None
    try:
        return partition.parse_shard(value)
    except partition.ShardSpecError as exc:
        raise pytest.UsageError(f"gridgate: {source}: {exc}") from None


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # A malformed K/N stops the run before anything is imported or collected.
    shard = chosen_shard(early_config)
    early_config.stash[_SHARD_KEY] = shard


_SHARD_KEY = pytest.StashKey["partition.Shard | None"]()
_PLAN_KEY = pytest.StashKey["ShardPlan"]()


def _shard(config: pytest.Config) -> partition.Shard | None:
    try:
        return config.stash[_SHARD_KEY]
    except KeyError:
        shard = config.stash[_SHARD_KEY] = chosen_shard(config)
        return shard


class Durations:
    """The durations file as read (once per process): seconds per test, or why not."""

    def __init__(self, path: Path | None, seconds: dict[str, float], warning: str) -> None:
        self.path = path
        self.seconds = seconds
        self.warning = warning


_DURATIONS_KEY = pytest.StashKey[Durations]()


def durations_file(config: pytest.Config) -> Durations:
    try:
        return config.stash[_DURATIONS_KEY]
    except KeyError:
        pass
    # The option is a path as typed (from the current directory), the key one written in
    # the project's configuration (from its root).
    option = config.getoption("gridgate_durations", None)
    setting = get_config(config).shard.durations
    if option:
        path: Path | None = config.invocation_params.dir / option
    else:
        path = config.rootpath / setting if setting else None
    seconds: dict[str, float] = {}
    warning = ""
    if path is not None:
        try:
            seconds = partition.read_durations(path)
        except partition.DurationsError as exc:
            # The durations only balance the shards; without them the partition is by
            # count, every shard still runs its share and the run stays whole.
            warning = f"durations file {exc}; shards balanced by test count"
    found = config.stash[_DURATIONS_KEY] = Durations(path, seconds, warning)
    return found


class ShardPlan:
    """What this process collected and kept."""

    def __init__(self, collected: list[str], kept: list[str], estimated: int) -> None:
        self.collected = collected
        self.kept = kept
        self.estimated = estimated  # tests without a measured duration

    def to_output(self) -> dict[str, Any]:
        return {"collected": self.collected, "kept": self.kept, "estimated": self.estimated}


def _group_keys(items: list[pytest.Item], mode: str) -> dict[str, str]:
    """Test -> the unit it must share a shard with (see ``shard.group``)."""
    keys: dict[str, str] = {}
    for item in items:
        nodeid = item.nodeid
        if mode == "module":
            keys[nodeid] = partition.module_key(nodeid)
        elif mode == "class":
            keys[nodeid] = partition.class_key(nodeid)
        elif mode == "auto":
            scopes = _fixture_scopes(item)
            if "module" in scopes:
                keys[nodeid] = partition.module_key(nodeid)
            elif "class" in scopes:
                keys[nodeid] = partition.class_key(nodeid)
    return keys


def _fixture_scopes(item: pytest.Item) -> set[str]:
    """Scopes of the fixtures a test uses: a module-scoped one is set up once per module
    and process, so splitting its module over shards repeats that setup on each."""
    defs = item_fixture_defs(item)
    return {str(getattr(d[-1], "scope", "function")) for d in defs.values() if d}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # trylast: after -k/-m/--deselect, which are the same on every shard.
    collected = [item.nodeid for item in items]
    shard = _shard(config)
    if shard is None:
        config.stash[_PLAN_KEY] = ShardPlan(collected, collected, 0)
        return
    durations = durations_file(config)
    seconds = partition.estimates(collected, durations.seconds)
    estimated = sum(1 for n in collected if n not in durations.seconds)
    groups = _group_keys(items, get_config(config).shard.group)
    parts = partition.partition(collected, shard.total, seconds, groups)
    mine = set(parts[shard.index - 1])
    items[:] = [item for item in items if item.nodeid in mine]
    config.stash[_PLAN_KEY] = ShardPlan(collected, [item.nodeid for item in items], estimated)


def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    plan = config.stash.get(_PLAN_KEY, None)
    if plan is not None and hasattr(config, "workerinput"):
        config.workeroutput[_WORKER_OUTPUT] = plan.to_output()  # type: ignore[attr-defined]


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        gate = ShardGate(config)
        config.pluginmanager.register(gate, "gridgate-shard")
        read_test_reports(config, gate.on_reports)


def pytest_report_header(config: pytest.Config) -> str | None:
    shard = _shard(config)
    if shard is None:
        return None
    durations = durations_file(config)
    if durations.warning:
        return f"gridgate shard {shard}: WARNING: {durations.warning}"
    if durations.path is None:
        return f"gridgate shard {shard}: balanced by test count (no shard.durations)"
    return f"gridgate shard {shard}: balanced by the durations in {durations.path}"


class ShardGate:
    """On the controller or the only process: what ran, how long, and the verdict."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        # Seconds by test: also what ran.
        self.seconds: dict[str, float] = {}
        self.worker_plan: ShardPlan | None = None
        # The last report's location tuple and node id (see on_reports).
        self._location: object = None
        self._nodeid = ""

    def on_reports(self, reports: list[pytest.TestReport]) -> None:
        """Every test report (read with pytest_gridgate.report's read_test_reports)."""
        # A report's node id is a property that builds its string in Python (two calls,
        # some 1,700 instructions a read, three reports a test). The reports pytest makes
        # for one item carry that item's location tuple (a cached property: one object
        # per item), so the id is read once for a test's reports that come one after
        # another (its passed setup and teardown are neighbours in the terminal's
        # statistics). Reports that arrive from elsewhere (xdist workers, through the
        # controller) carry a new tuple each, and their id is read each time.
        seconds, location, nodeid = self.seconds, self._location, self._nodeid
        for report in reports:
            if report.location is not location:
                location, nodeid = report.location, report.nodeid
            seconds[nodeid] = seconds.get(nodeid, 0.0) + report.duration
        self._location, self._nodeid = location, nodeid

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        output = getattr(node, "workeroutput", None) or {}
        data = output.get(_WORKER_OUTPUT)
        if data is not None and self.worker_plan is None:
            self.worker_plan = ShardPlan(data["collected"], data["kept"], data["estimated"])

    def plan(self) -> ShardPlan | None:
        return self.worker_plan or self.config.stash.get(_PLAN_KEY, None)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # Before the collection gate: an empty shard of a non-empty suite ran everything
        # it was given. pytest's "no tests collected" (5) would fail it, and the gate
        # would call it "no tests selected"; it passes with 0 tests. A suite the shards
        # share out that is empty as a whole keeps its 5 (the collection gate's failure).
        plan = self.plan()
        if (
            _shard(self.config) is not None
            and plan is not None
            and plan.collected
            and not plan.kept
            and session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED
        ):
            session.exitstatus = pytest.ExitCode.OK

    @pytest.hookimpl(tryfirst=True)
    def pytest_gridgate_report(self, report: GateReport, config: pytest.Config) -> None:
        # tryfirst: the collection gate's verdict reads ``deselected`` after this fix.
        shard = _shard(config) or partition.Shard(1, 1)
        plan = self.plan() or ShardPlan([], [], 0)
        elsewhere = len(plan.collected) - len(plan.kept)
        if elsewhere and report.counts.get("deselected", 0) >= elsewhere:
            report.counts["deselected"] -= elsewhere  # only -k/-m/--deselect
        # In the order the tests were run (the terminal's statistics, where the durations
        # are read from, keep them by outcome), then any the plan does not name. A copy
        # first (one C call): the timeouts gate's watchdog thread may read reports into
        # it meanwhile, for a snapshot.
        seconds = dict(self.seconds)
        ran = [nodeid for nodeid in plan.kept if nodeid in seconds]
        if len(ran) < len(seconds):
            planned = set(ran)
            ran += [nodeid for nodeid in seconds if nodeid not in planned]
        measured = [(nodeid, seconds[nodeid]) for nodeid in ran]
        report.add_section(
            "shard",
            {
                "index": shard.index,
                "total": shard.total,
                "collected": len(plan.collected),
                "collected_digest": partition.collected_digest(plan.collected),
                "ran": [nodeid for nodeid, _ in measured],
                "collected_ids": plan.collected,
            },
        )
        report.add_section(
            "durations", [{"nodeid": n, "seconds": round(s, 6)} for n, s in measured]
        )
        if _shard(config) is None:
            return
        summary = f"shard {shard}: {len(plan.kept)} of {len(plan.collected)} tests"
        summary += f" ({elsewhere} on other shards)"
        durations = durations_file(config)
        details = []
        if durations.warning:
            details.append(f"WARNING: {durations.warning}")
        elif durations.path is None:
            summary += ", balanced by count"
        elif plan.estimated:
            summary += f", {plan.estimated} without a measured duration (estimated)"
        report.add_verdict("shard", True, summary, details)
