"""The shard gate: --gridgate-shard K/N runs a deterministic, balanced part of the suite."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from pytest_gridgate.partition import collected_digest, partition

# Twelve tests in three modules, one with a class.
SUITE = {
    "test_one": """
import pytest

@pytest.mark.parametrize("i", range(6))
def test_p(i):
    pass
""",
    "test_two": """
def test_a(): pass
def test_b(): pass
def test_c(): pass
""",
    "test_three": """
class TestK:
    def test_x(self): pass
    def test_y(self): pass
def test_z(): pass
""",
}


def _report(pytester: pytest.Pytester, name: str = "r.json") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((pytester.path / name).read_text())
    return data


def _run_shard(
    pytester: pytest.Pytester, shard: str, *args: str, report: str = "r.json"
) -> tuple[pytest.RunResult, dict[str, Any]]:
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--gridgate-shard={shard}", f"--gridgate-report={report}", *args
    )
    return result, _report(pytester, report)


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["single", "xdist"])
def test_shards_run_every_test_exactly_once(pytester: pytest.Pytester, xdist: list[str]) -> None:
    pytester.makepyfile(**SUITE)
    ran: list[str] = []
    digests = set()
    for k in (1, 2, 3):
        result, report = _run_shard(pytester, f"{k}/3", *xdist, report=f"r{k}.json")
        assert result.ret == 0, result.stdout.str()
        shard = report["shard"]
        assert (shard["index"], shard["total"], shard["collected"]) == (k, 3, 12)
        assert report["counts"]["passed"] == len(shard["ran"]) == 4  # balanced by count
        assert report["counts"]["collected"] == 12
        assert report["counts"]["deselected"] == 0  # other shards' tests are not "deselected"
        result.stdout.fnmatch_lines([f"PASS shard * shard {k}/3: 4 of 12 tests (8 on other*"])
        ran += shard["ran"]
        digests.add(shard["collected_digest"])
    assert len(ran) == len(set(ran)) == 12
    assert digests == {collected_digest(ran)}


def test_partition_is_the_same_in_every_process(pytester: pytest.Pytester) -> None:
    """Different hash seeds and a different collection order: the same shard, same tests."""
    pytester.makepyfile(**SUITE)
    pytester.path.joinpath("d.json").write_text(
        json.dumps({"test_one.py::test_p[0]": 3.0, "test_two.py::test_b": 2.0})
    )
    runs = []
    for seed, order in (
        ("1", ["test_one.py", "test_two.py", "test_three.py"]),
        ("2", ["test_three.py", "test_two.py", "test_one.py"]),
    ):
        os.environ["PYTHONHASHSEED"] = seed
        try:
            _, report = _run_shard(pytester, "2/3", "--gridgate-durations=d.json", *order)
        finally:
            del os.environ["PYTHONHASHSEED"]
        runs.append(report["shard"])
    assert sorted(runs[0]["ran"]) == sorted(runs[1]["ran"])
    assert runs[0]["collected_digest"] == runs[1]["collected_digest"]


def test_balance_follows_measured_durations(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(**SUITE)
    ids = [f"test_one.py::test_p[{i}]" for i in range(6)]
    ids += [f"test_two.py::test_{c}" for c in "abc"]
    ids += ["test_three.py::TestK::test_x", "test_three.py::TestK::test_y", "test_three.py::test_z"]
    # One test as long as the other eleven together: it gets a shard of its own.
    seconds = dict.fromkeys(ids, 1.0)
    seconds["test_two.py::test_b"] = 11.0
    pytester.path.joinpath("d.json").write_text(json.dumps(seconds))
    shards = [
        set(_run_shard(pytester, f"{k}/2", "--gridgate-durations=d.json")[1]["shard"]["ran"])
        for k in (1, 2)
    ]
    assert {"test_two.py::test_b"} in shards
    assert set(ids) - {"test_two.py::test_b"} in shards


def test_durations_from_the_configuration_and_unknown_tests_estimated(
    pytester: pytest.Pytester,
) -> None:
    """A new test is estimated from its own module's measured tests, not the suite's
    average: here the slow module's new test is as slow as its neighbours (10 s), so each
    of the three shards gets one slow test. With the suite's median or mean (1 s, 2.7 s) the
    new test would join a shard that already has a slow one."""
    pytester.makepyfile(
        test_slow="def test_s1(): pass\ndef test_s2(): pass\ndef test_new(): pass\n",
        test_fast="import pytest\n@pytest.mark.parametrize('i', range(20))\ndef test_f(i): pass\n",
    )
    seconds = {"test_slow.py::test_s1": 10.0, "test_slow.py::test_s2": 10.0}
    seconds |= {f"test_fast.py::test_f[{i}]": 1.0 for i in range(20)}
    pytester.mkdir(".gridgate").joinpath("durations.json").write_text(json.dumps(seconds))
    pytester.makepyprojecttoml('[tool.gridgate.shard]\ndurations = ".gridgate/durations.json"\n')
    slow_per_shard = []
    for k in (1, 2, 3):
        result, report = _run_shard(pytester, f"{k}/3")
        assert result.ret == 0
        slow_per_shard.append([n for n in report["shard"]["ran"] if "test_slow" in n])
        result.stdout.fnmatch_lines(["*1 without a measured duration (estimated)*"])
    assert sorted(len(s) for s in slow_per_shard) == [1, 1, 1]


MODULE_FIXTURE = """
import pytest

@pytest.fixture(scope="module")
def server():
    return object()

@pytest.mark.parametrize("i", range(4))
def test_uses_server(server, i):
    pass
"""

CLASS_FIXTURE = """
import pytest

class TestDb:
    @pytest.fixture(scope="class")
    def db(self):
        return object()

    @pytest.mark.parametrize("i", range(4))
    def test_query(self, db, i):
        pass

@pytest.mark.parametrize("i", range(4))
def test_free(i):
    pass
"""


def _ran_by_shard(pytester: pytest.Pytester, total: int, *args: str) -> list[list[str]]:
    shards = []
    for k in range(1, total + 1):
        result, report = _run_shard(pytester, f"{k}/{total}", *args)
        assert result.ret == 0, result.stdout.str()
        shards.append(report["shard"]["ran"])
    return shards


def _together(shards: list[list[str]], prefix: str) -> bool:
    return sum(1 for ran in shards if any(n.startswith(prefix) for n in ran)) == 1


def test_auto_grouping_keeps_scoped_fixtures_together(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_mod=MODULE_FIXTURE, test_cls=CLASS_FIXTURE)
    shards = _ran_by_shard(pytester, 4)
    assert _together(shards, "test_mod.py::")  # module-scoped fixture: one shard
    assert _together(shards, "test_cls.py::TestDb::")  # class-scoped fixture: one shard
    # Tests without a scoped fixture are spread out.
    assert not _together(shards, "test_cls.py::test_free")


@pytest.mark.parametrize(
    ("group", "module_together", "class_together"),
    [("test", False, False), ("module", True, True), ("class", False, True)],
)
def test_configured_grouping(
    pytester: pytest.Pytester, group: str, module_together: bool, class_together: bool
) -> None:
    pytester.makepyfile(test_mod=MODULE_FIXTURE, test_cls=CLASS_FIXTURE)
    pytester.makepyprojecttoml(f'[tool.gridgate.shard]\ngroup = "{group}"\n')
    shards = _ran_by_shard(pytester, 4)
    assert _together(shards, "test_mod.py::") is module_together
    assert _together(shards, "test_cls.py::TestDb::") is class_together
    assert sum(len(ran) for ran in shards) == 12


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["single", "xdist"])
def test_an_empty_shard_passes_with_no_tests(pytester: pytest.Pytester, xdist: list[str]) -> None:
    pytester.makepyfile(test_two="def test_a(): pass\ndef test_b(): pass\n")
    result, report = _run_shard(pytester, "4/4", *xdist)
    assert result.ret == 0, result.stdout.str()
    assert report["exit_code"] == 0
    assert report["shard"]["ran"] == []
    assert report["counts"]["collected"] == 2
    result.stdout.fnmatch_lines(["PASS shard * 0 of 2 tests (2 on other shards)*"])


def test_min_tests_is_judged_on_the_whole_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_three="def test_a(): pass\ndef test_b(): pass\ndef test_c(): pass\n")
    pytester.makepyprojecttoml("[tool.gridgate.collection]\nmin_tests = 3\n")
    # Each shard runs one test or none, yet the suite has its three: every shard passes.
    for k in (1, 4):
        result, _ = _run_shard(pytester, f"{k}/4")
        assert result.ret == 0, result.stdout.str()
    pytester.makepyprojecttoml("[tool.gridgate.collection]\nmin_tests = 4\n")
    result, _ = _run_shard(pytester, "1/4")
    assert result.ret == 2
    result.stdout.fnmatch_lines(["FAIL collection *3 tests collected, fewer than*min_tests = 4"])


def test_a_selection_of_nothing_still_fails_on_every_shard(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_two="def test_a(): pass\ndef test_b(): pass\n")
    result, _ = _run_shard(pytester, "1/2", "-k", "no_such_test")
    assert result.ret == 2


def test_deselection_by_k_is_counted_apart_from_other_shards(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(**SUITE)
    result, report = _run_shard(pytester, "1/2", "-k", "not test_p")
    assert result.ret == 0
    assert report["counts"]["collected"] == 12
    assert report["counts"]["deselected"] == 6
    assert report["shard"]["collected"] == 6  # what the shards share out
    result.stdout.fnmatch_lines(["PASS shard * 3 of 6 tests (3 on other shards)*"])
    result.stdout.fnmatch_lines(["PASS collection  12 tests collected, 6 deselected"])


@pytest.mark.parametrize("value", ["0/4", "5/4", "a/b", "4", "1/0", "-1/4", ""])
def test_malformed_shard_is_a_usage_error(pytester: pytest.Pytester, value: str) -> None:
    pytester.makepyfile(test_two="def test_a(): pass\n")
    result = pytester.runpytest_subprocess(f"--gridgate-shard={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*gridgate: --gridgate-shard: expected K/N*"])
    assert "Traceback" not in result.stderr.str()


def test_malformed_shard_variable_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_two="def test_a(): pass\n")
    monkeypatch.setenv("GRIDGATE_SHARD", "5/4")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*environment variable GRIDGATE_SHARD: expected K/N*"])


def test_shard_from_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(**SUITE)
    monkeypatch.setenv("GRIDGATE_SHARD", "2/3")
    result = pytester.runpytest_subprocess("--gridgate-report=r.json")
    assert result.ret == 0
    shard = _report(pytester)["shard"]
    assert (shard["index"], shard["total"], len(shard["ran"])) == (2, 3, 4)


@pytest.mark.parametrize(
    "content",
    ["{not json", "[1, 2, 3]", '{"test_two.py::test_a": -1}', '{"x": "slow"}', None],
    ids=["invalid-json", "wrong-shape", "negative", "not-a-number", "missing"],
)
def test_bad_durations_file_warns_and_balances_by_count(
    pytester: pytest.Pytester, content: str | None
) -> None:
    pytester.makepyfile(**SUITE)
    if content is not None:
        pytester.path.joinpath("d.json").write_text(content)
    counts = []
    for k in (1, 2, 3):
        result, report = _run_shard(pytester, f"{k}/3", "--gridgate-durations=d.json")
        assert result.ret == 0, result.stdout.str()
        assert "Traceback" not in result.stdout.str() + result.stderr.str()
        result.stdout.fnmatch_lines(
            ["*WARNING: durations file *d.json: *; shards balanced by test count*"]
        )
        counts.append(len(report["shard"]["ran"]))
    assert counts == [4, 4, 4]


SLOW_PHASES = """
import time
import pytest

@pytest.fixture
def slow():
    time.sleep(0.2)
    yield
    time.sleep(0.2)

def test_slow(slow):
    time.sleep(0.2)

def test_quick():
    pass
"""


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["single", "xdist"])
def test_unsharded_run_writes_durations_of_every_phase(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    pytester.makepyfile(test_phases=SLOW_PHASES)
    result = pytester.runpytest_subprocess("--gridgate-report=r.json", *xdist)
    assert result.ret == 0
    report = _report(pytester)
    seconds = {d["nodeid"]: d["seconds"] for d in report["durations"]}
    assert set(seconds) == {"test_phases.py::test_slow", "test_phases.py::test_quick"}
    # Setup, call and teardown each sleep 0.2 s: only their sum reaches 0.6 s.
    assert seconds["test_phases.py::test_slow"] >= 0.6
    assert report["shard"]["index"] == report["shard"]["total"] == 1
    assert sorted(report["shard"]["ran"]) == sorted(seconds)
    assert "shard" not in [g["gate"] for g in report["gates"]]  # no verdict unsharded


def test_durations_of_one_class_collected_in_two_modules_stay_apart(
    pytester: pytest.Pytester,
) -> None:
    # The class's test has the same location (file, line, name) in both modules: the
    # durations are kept by node id, each test's reports under its own.
    pytester.makepyfile(
        test_base="class TestShared:\n    def test_x(self):\n        pass\n",
        test_again="from test_base import TestShared\n",
    )
    result = pytester.runpytest_subprocess("--gridgate-report=r.json", "-p", "no:randomly")
    assert result.ret == 0
    report = _report(pytester)
    ids = ["test_again.py::TestShared::test_x", "test_base.py::TestShared::test_x"]
    assert sorted(d["nodeid"] for d in report["durations"]) == ids
    assert sorted(report["shard"]["ran"]) == ids


def test_partition_longest_first_onto_the_lightest_shard() -> None:
    ids = [f"t{i}" for i in range(7)]
    seconds = dict(zip(ids, [7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0], strict=True))
    shards = partition(ids, 2, seconds)
    assert sorted(sum(seconds[n] for n in shard) for shard in shards) == [14.0, 14.0]
    assert partition(ids, 2, seconds) == shards
    assert partition(list(reversed(ids)), 2, seconds) == [sorted(s, reverse=True) for s in shards]


def test_a_bad_group_setting_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(**SUITE)
    pytester.makepyprojecttoml('[tool.gridgate.shard]\ngroup = "package"\n')
    result = pytester.runpytest_subprocess("--gridgate-shard=1/2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pyproject.toml: shard.group: expected one of*"])
