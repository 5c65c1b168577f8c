"""gridgate merge: shard reports become one verdict, or exit 2 when they are not one run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_gridgate import cli

SUITE = {
    "test_one": "import pytest\n@pytest.mark.parametrize('i', range(6))\ndef test_p(i): pass\n",
    "test_two": "def test_a(): pass\ndef test_b(): pass\ndef test_c(): pass\n",
}


def _shard(pytester: pytest.Pytester, shard: str, report: str, *args: str) -> int:
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--gridgate-shard={shard}", f"--gridgate-report={report}", *args
    )
    return int(result.ret)


def _merge(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["merge", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_whole_run_merges_into_one_report(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(**SUITE)
    for k in (1, 2, 3):
        assert _shard(pytester, f"{k}/3", f"r{k}.json") == 0
    # A previous durations file: tests that did not run keep their seconds.
    pytester.path.joinpath("d.json").write_text(json.dumps({"test_gone.py::test_old": 4.5}))
    code, out, _ = _merge(
        capsys,
        "r3.json",
        "r1.json",
        "r2.json",
        "--report=m.json",
        "--summary=m.md",
        "--durations=d.json",
    )
    assert code == 0
    assert "gridgate (merged 3 shards)" in out
    assert "PASS shard       3 shards, 9 tests, each ran once" in out
    assert "PASS tests       9 passed" in out
    assert out.rstrip().endswith("gridgate: passed (exit code 0)")
    merged = _load(pytester.path / "m.json")
    assert merged["counts"]["collected"] == 9
    assert merged["counts"]["passed"] == 9
    assert merged["exit_code"] == 0
    assert merged["shard"]["merged"] == 3
    assert (merged["shard"]["index"], merged["shard"]["total"]) == (1, 1)
    assert sorted(merged["shard"]["ran"]) == sorted(merged["shard"]["collected_ids"])
    assert len({d["nodeid"] for d in merged["durations"]}) == 9
    assert "gridgate: passed" in (pytester.path / "m.md").read_text()
    durations = _load(pytester.path / "d.json")
    assert durations["test_gone.py::test_old"] == 4.5
    assert set(durations) == {"test_gone.py::test_old", *merged["shard"]["ran"]}
    # The merged report is itself one whole run.
    assert _merge(capsys, "m.json")[0] == 0


def test_merged_report_of_one_unsharded_run_makes_the_first_durations_file(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(**SUITE)
    result = pytester.runpytest_subprocess("--gridgate-report=r.json")
    assert result.ret == 0
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path / "step.md"))
    pytester.path.joinpath("step.md").write_text("earlier step\n")
    code, _out, _ = _merge(capsys, "r.json", "--durations=.gridgate/durations.json")
    assert code == 0
    assert set(_load(pytester.path / ".gridgate/durations.json")) == {
        *(f"test_one.py::test_p[{i}]" for i in range(6)),
        *(f"test_two.py::test_{c}" for c in "abc"),
    }
    step = (pytester.path / "step.md").read_text()
    assert step.startswith("earlier step\n")
    assert "gridgate: passed" in step


def test_a_failed_shard_fails_the_merge_with_exit_1(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(**SUITE, test_bad="def test_fails(): assert False\n")
    codes = [_shard(pytester, f"{k}/2", f"r{k}.json") for k in (1, 2)]
    assert sorted(codes) == [0, 1]
    code, out, _ = _merge(capsys, "r1.json", "r2.json", "--report=m.json")
    assert code == 1
    assert "FAIL tests       9 passed, 1 failed" in out
    assert _load(pytester.path / "m.json")["exit_code"] == 1


def test_a_corrupt_previous_durations_file_is_replaced_with_a_warning(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(**SUITE)
    assert _shard(pytester, "1/1", "r.json") == 0
    pytester.path.joinpath("d.json").write_text("{broken")
    code, _, err = _merge(capsys, "r.json", "--durations=d.json")
    assert code == 0
    assert "previous durations file d.json: not valid JSON" in err
    assert len(_load(pytester.path / "d.json")) == 9


# --------------------------------------------------------------------------- refusals


def _refused(capsys: pytest.CaptureFixture[str], *reports: str) -> str:
    code, _, err = _merge(capsys, *reports, "--report=m.json")
    assert code == 2, err
    assert "Traceback" not in err
    assert "nothing merged" in err
    return err


def test_missing_shard(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    pytester.makepyfile(**SUITE)
    for k in (1, 3):
        _shard(pytester, f"{k}/3", f"r{k}.json")
    err = _refused(capsys, "r1.json", "r3.json")
    assert "shard 2/3 missing (got 2 of 3)" in err
    assert not (pytester.path / "m.json").exists()


def test_duplicate_shard(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    pytester.makepyfile(**SUITE)
    _shard(pytester, "1/2", "r1.json")
    _shard(pytester, "2/2", "r2.json")
    _shard(pytester, "2/2", "again.json")
    err = _refused(capsys, "r1.json", "r2.json", "again.json")
    assert "shard 2/2 given 2 times: r2.json, again.json" in err


def test_mismatched_number_of_shards(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(**SUITE)
    _shard(pytester, "1/2", "r1.json")
    _shard(pytester, "2/3", "r2.json")
    err = _refused(capsys, "r1.json", "r2.json")
    assert "disagree on the number of shards N: r1.json says 2, r2.json says 3" in err


def test_diverging_collection_lists_the_tests(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An environment-dependent parametrize: the shards collect different suites.
    pytester.makepyfile(
        test_env="import os, pytest\n"
        "@pytest.mark.parametrize('i', range(int(os.environ['GG_CASES'])))\n"
        "def test_case(i): pass\n"
    )
    monkeypatch.setenv("GG_CASES", "4")
    _shard(pytester, "1/2", "r1.json")
    monkeypatch.setenv("GG_CASES", "3")
    _shard(pytester, "2/2", "r2.json")
    err = _refused(capsys, "r1.json", "r2.json")
    assert "the shards collected different tests" in err
    assert "test_env.py::test_case[3]: collected on 1/2, not on 2/2" in err


def test_a_test_on_two_shards(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    # Shards that partitioned from different durations files (a cache restored on one
    # machine and not another) agree on the collection but not on who runs what.
    pytester.makepyfile(
        test_x="def test_a(): pass\n",
        test_y="def test_b(): pass\ndef test_c(): pass\ndef test_d(): pass\n",
    )
    seconds = {"test_x.py::test_a": 10, "test_y.py::test_b": 1, "test_y.py::test_c": 1}
    pytester.path.joinpath("d.json").write_text(json.dumps(seconds | {"test_y.py::test_d": 1}))
    _shard(pytester, "1/2", "r1.json")  # by count: a, c
    _shard(pytester, "2/2", "r2.json", "--gridgate-durations=d.json")  # b, c, d
    err = _refused(capsys, "r1.json", "r2.json")
    assert "1 test(s) ran on more than one shard:" in err
    assert "test_y.py::test_c (shards 1/2, 2/2)" in err


def test_a_test_that_ran_on_no_shard(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(**SUITE, test_stop="def test_0_fails(): assert False\n")
    # -x stops shard 1 at its first failure: the rest of its share never ran.
    _shard(pytester, "1/2", "r1.json", "-x")
    _shard(pytester, "2/2", "r2.json")
    report = _load(pytester.path / "r1.json")
    assert len(report["shard"]["ran"]) < 5
    err = _refused(capsys, "r1.json", "r2.json")
    assert "collected test(s) ran on no shard:" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "missing.json: cannot read: FileNotFoundError"),
        ("{not json", "bad.json: not valid JSON"),
        ('{"findings": []}', "bad.json: not a gridgate JSON report (version 1)"),
        ('{"version": 1, "counts": {}, "exit_code": 0}', "bad.json: a gridgate report without"),
        (
            '{"version": 1, "counts": {}, "exit_code": 0, "shard": {"index": 5, "total": 4}}',
            "bad.json: a malformed 'shard' section",
        ),
    ],
    ids=["missing", "not-json", "not-gridgate", "no-shard-section", "malformed-shard"],
)
def test_unusable_report_names_its_path(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    pytester.makepyfile(**SUITE)
    _shard(pytester, "1/1", "r.json")
    if content is not None:
        pytester.path.joinpath("bad.json").write_text(content)
    err = _refused(capsys, "r.json", "missing.json" if content is None else "bad.json")
    assert message in err


def test_merge_usage_error_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["merge"])
    assert exc.value.code == 2


def test_an_unwritable_output_is_exit_2(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(**SUITE)
    assert _shard(pytester, "1/1", "r.json") == 0
    code, out, err = _merge(capsys, "r.json", "--report=/proc/nope/m.json", "--summary=m.md")
    assert code == 2
    assert "cannot write the JSON report to /proc/nope/m.json" in err
    assert "FAIL report" in out
    assert "cannot write the JSON report" in (pytester.path / "m.md").read_text()
    code, _, err = _merge(capsys, "r.json", "--durations=/proc/nope/d.json")
    assert code == 2
    assert "cannot write the durations file to /proc/nope/d.json" in err
