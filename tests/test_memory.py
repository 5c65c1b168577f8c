"""The memory gate, driven through real pytest runs with real allocations.

Every inner run is a subprocess (``runpytest_subprocess``): the allocations, the child
processes and the per-process peaks must be the inner run's own. What was measured is read
from the gate report (``--gridgate-report``: its ``memory`` entries and verdicts) and the
test outcomes. The allocations are written to (``b"x" * n``), so their pages are resident:
an untouched ``bytes(n)`` is never part of a process's memory.

The 300 MB cases run in one inner session per mode (plain, ``-n 2``) so that the suite's
own memory stays modest on a shared machine.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_gridgate.memory.meter import ProcMeter
from pytest_gridgate.sizes import format_size, parse_size

if TYPE_CHECKING:
    from conftest import Gated

# Every inner run: -rE names the tests that ended in an error (the gate's verdict).
RUN = ("-rE",)

MB = 1_000_000


def _gate(report: dict[str, Any], name: str = "memory") -> dict[str, Any]:
    [gate] = [gate for gate in report["gates"] if gate["gate"] == name]
    assert isinstance(gate, dict)
    return gate


def _entry(report: dict[str, Any], test: str, kind: str = "peak") -> dict[str, Any]:
    [entry] = [
        e for e in report["memory"] if e["nodeid"].endswith(f"::{test}") and e["kind"] == kind
    ]
    assert isinstance(entry, dict)
    return entry


def _errors(result: pytest.RunResult) -> set[str]:
    """Tests that ended with an error (the gate's verdict is an error in teardown)."""
    return set(re.findall(r"^ERROR \S+::(\S+)", result.stdout.str(), re.MULTILINE))


ACCEPTANCE = """
    import subprocess
    import sys

    import pytest

    HELD = []


    def test_alloc_and_free():
        data = b"x" * 300_000_000
        del data


    @pytest.fixture
    def big_fixture():
        data = b"x" * 300_000_000
        del data
        yield


    def test_in_fixture(big_fixture):
        pass


    def test_small():
        data = b"x" * 10_000_000
        del data


    def test_child_process():
        subprocess.run(
            [sys.executable, "-c", "data = b'x' * 300_000_000"], check=True, timeout=120
        )


    @pytest.mark.gridgate_memory("1GB")
    def test_keeps_memory():
        HELD.append(b"x" * 100_000_000)


    @pytest.mark.parametrize(
        "size",
        [
            pytest.param(300, id="marked", marks=pytest.mark.gridgate_memory("1GB")),
            pytest.param(300, id="exempt", marks=pytest.mark.gridgate_memory(0)),
            pytest.param(300, id="default"),
        ],
    )
    def test_param(size):
        data = b"x" * (size * 1_000_000)
        del data
"""


@pytest.mark.parametrize("xdist", [False, True], ids=["plain", "xdist"])
def test_acceptance_real_allocations(pytester: pytest.Pytester, gated: Gated, xdist: bool) -> None:
    pytester.makepyfile(test_mem=ACCEPTANCE)
    args = ["-p", "xdist", "-n", "2"] if xdist else []
    gated.project(
        """
        [tool.gridgate.memory]
        limit = "100MB"
        retained = "50MB"
        """
    )
    result, report = gated.run(*args, *RUN, timeout=600)
    # Over the limit: an error in teardown; everything else ran and passed.
    assert _errors(result) == {
        "test_alloc_and_free",
        "test_in_fixture",
        "test_child_process",
        "test_keeps_memory",
        "test_param[default]",
    }, result.stdout.str()
    result.assert_outcomes(passed=8, errors=5)
    assert result.ret == 1
    # The reported peak is the allocation's, within 10 %.
    for test in ("test_alloc_and_free", "test_in_fixture", "test_child_process"):
        entry = _entry(report, test)
        assert 270 * MB <= entry["bytes"] <= 330 * MB, entry
        assert entry["limit"] == 100 * MB
    assert _entry(report, "test_child_process")["children"] >= 270 * MB
    kept = _entry(report, "test_keeps_memory", "retained")
    assert 90 * MB <= kept["bytes"] <= 110 * MB, kept
    assert kept["limit"] == 50 * MB
    # The marker's limit is its case's only.
    assert _entry(report, "test_param[marked]")["limit"] == 1000 * MB
    assert _entry(report, "test_param[exempt]")["limit"] == 0
    assert _entry(report, "test_param[default]")["limit"] == 100 * MB
    small = [e for e in report["memory"] if e["nodeid"].endswith("::test_small")]
    assert all(e["bytes"] < 20 * MB for e in small), small
    gate = _gate(report)
    assert not gate["passed"]
    top = gate["details"][-1]
    assert top.startswith("top 8 tests by peak"), gate["details"]
    # Each pytest process has its peak: the workers under xdist, and the controller.
    processes = {e["process"] for e in report["memory"] if e["kind"] == "process"}
    assert processes == ({"gw0", "gw1", "controller"} if xdist else {"main"})
    assert "FAIL memory" in result.stdout.str()


def test_within_the_limit_passes(pytester: pytest.Pytester, gated: Gated) -> None:
    pytester.makepyfile(
        test_ok="""
            def test_small():
                data = b"x" * 10_000_000
                del data
        """
    )
    gated.project('[tool.gridgate.memory]\nlimit = "100MB"\n')
    result, report = gated.run(*RUN, timeout=600)
    assert result.ret == 0, result.stdout.str()
    gate = _gate(report)
    assert gate["passed"], gate
    assert gate["summary"].startswith("largest test peak"), gate
    [peak] = [e for e in report["memory"] if e["kind"] == "peak"]
    assert 9 * MB <= peak["bytes"] <= 20 * MB, peak


WARN_AND_PROCESS = """
    def test_over():
        data = b"x" * 60_000_000
        del data

    def test_after():
        pass
"""


def test_warn_mode_from_environment(
    pytester: pytest.Pytester, gated: Gated, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_warn=WARN_AND_PROCESS)
    monkeypatch.setenv("GRIDGATE_MEMORY_ACTION", "warn")
    monkeypatch.setenv("GRIDGATE_MEMORY_LIMIT", "20MB")
    gated.project()
    result, report = gated.run(*RUN, timeout=600)
    assert result.ret == 0, result.stdout.str()
    assert "GridgateMemoryWarning" in result.stdout.str()
    entry = _entry(report, "test_over")
    assert entry["limit"] == 20 * MB
    assert entry["bytes"] >= 50 * MB
    gate = _gate(report)
    assert gate["passed"], gate
    assert "(warn only)" in gate["summary"], gate


def test_profile_sets_the_limit(pytester: pytest.Pytester, gated: Gated) -> None:
    pytester.makepyfile(test_profile=WARN_AND_PROCESS)
    gated.project(
        """
        [tool.gridgate.profiles.ci.memory]
        limit = "20MB"
        """
    )
    result, report = gated.run("--gridgate-profile", "ci", *RUN, timeout=600)
    assert _errors(result) == {"test_over"}, result.stdout.str()
    assert _entry(report, "test_over")["limit"] == 20 * MB


def test_process_over_its_limit_fails_the_test_during_which(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    pytester.makepyfile(test_process=WARN_AND_PROCESS)
    gated.project(
        """
        [tool.gridgate.memory]
        limit = 0
        process_limit = "70MB"
        """
    )
    result, report = gated.run(*RUN, timeout=600)
    # The process starts well under 70 MB; 60 MB more takes it over, during test_over.
    assert _errors(result) == {"test_over"}, result.stdout.str()
    assert result.ret == 1
    crossing = _entry(report, "test_over", "process")
    assert crossing["limit"] == 70 * MB
    assert crossing["bytes"] > 70 * MB
    assert not _gate(report)["passed"]


def test_off(pytester: pytest.Pytester, gated: Gated) -> None:
    pytester.makepyfile(test_off=WARN_AND_PROCESS)
    gated.project()
    result, report = gated.run(
        "--gridgate-memory", "off", "--gridgate-memory-limit", "1MB", *RUN, timeout=600
    )
    assert result.ret == 0, result.stdout.str()
    assert report["memory"] == []
    assert _gate(report)["summary"] == "memory gate off"


@pytest.mark.parametrize(
    ("config", "env", "named"),
    [
        ('[tool.gridgate.memory]\nlimit = "12 parsecs"\n', {}, "memory.limit"),
        ('[tool.gridgate.memory]\nretained = "lots"\n', {}, "memory.retained"),
        ("[tool.gridgate.memory]\nprocess_limit = -5\n", {}, "memory.process_limit"),
        (
            '[tool.gridgate.profiles.ci.memory]\nlimit = "1XB"\n',
            {},
            "profiles.ci.memory.limit",
        ),
        ("", {"GRIDGATE_MEMORY_LIMIT": "huge"}, "GRIDGATE_MEMORY_LIMIT"),
    ],
)
def test_bad_size_is_exit_4_naming_the_key(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    config: str,
    env: dict[str, str],
    named: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    pytester.makepyprojecttoml(config or "[tool.gridgate]\n")
    pytester.makepyfile(test_a="def test_a(): pass")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == 4
    [line] = [line for line in result.stderr.lines if line.strip()]
    assert named in line, line
    assert "size" in line, line


def test_bad_marker_argument_fails_that_test_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marker="""
            import pytest

            @pytest.mark.gridgate_memory("a lot")
            def test_bad():
                pass

            def test_good():
                pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*gridgate_memory*a lot*"])


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512MB", 512 * MB),
        ("2GiB", 2 * 2**30),
        ("1.5 GB", 1500 * MB),
        ("100kib", 102400),
        ("1048576", 1048576),
        (4096, 4096),
        (0, 0),
        ("1G", 2**30),
    ],
)
def test_sizes(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["", "MB", "1 parsec", "-1MB", True, 1.5, "2 EiB", None])
def test_bad_sizes(bad: object) -> None:
    with pytest.raises(ValueError, match=r"size|unit|must be"):
        parse_size(bad)


def test_size_reads_back() -> None:
    assert format_size(300_000_000) == "300.0 MB"
    assert format_size(512) == "512 B"
    # A limit reads back as it was written.
    assert str(parse_size("2GiB")) == "2 GiB"
    assert str(parse_size("100MB")) == "100 MB"
    assert str(parse_size("1536KiB")) == "1536 KiB"
    assert str(parse_size(0)) == "0 (off)"


def test_demo_example_is_over_its_budget(pytester: pytest.Pytester, gated: Gated) -> None:
    examples = Path(__file__).parent.parent / "examples"
    pytester.makepyfile(test_memory_demo=(examples / "tests" / "test_memory_demo.py").read_text())
    [limit] = re.findall(r'^limit = "(\w+)"', (examples / "pyproject.toml").read_text(), re.M)
    gated.project(f'[tool.gridgate.memory]\nlimit = "{limit}"\n')
    result, report = gated.run(*RUN, timeout=600)
    assert _errors(result) == {"test_builds_the_whole_report_in_memory"}, result.stdout.str()
    entry = _entry(report, "test_builds_the_whole_report_in_memory")
    assert entry["bytes"] > entry["limit"] == parse_size(limit)


def test_fallback_meter_sees_a_new_high() -> None:
    # The meter used where /proc/self/clear_refs is missing (macOS, Windows, sandboxes),
    # driven here on Linux: a test's peak is seen when it is a new high for the process.
    from pytest_gridgate.memory.meter import FallbackMeter

    meter = FallbackMeter()
    meter.start()
    data = b"x" * (meter.peak_since_start() + 50 * MB)  # above anything before
    del data
    measured = meter.finish()
    assert measured.peak >= 50 * MB


NOT_THE_NEXT_TESTS = """
    import subprocess
    import sys

    import pytest


    @pytest.fixture
    def big_then_broken():
        data = b"x" * 300_000_000
        yield
        del data
        raise RuntimeError("this finalizer fails")


    def test_teardown_raises(big_then_broken):
        pass


    def test_after_the_broken_teardown():
        pass


    def test_leaves_a_big_child_running():
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; d = b'x' * 300_000_000; print(1, flush=True); "
             "time.sleep(60)"],
            stdout=subprocess.PIPE,
        )
        child.stdout.readline()  # the child holds its 300 MB now


    def test_after_the_child():
        pass
"""


def test_the_next_test_is_not_blamed_for_what_came_before(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    # Each test's measurement starts where the last one ended, except when the last one's
    # teardown never reached the gate (a finalizer raised) or left children running (the
    # leak check reaps them after the gate has measured): then the next test starts afresh.
    pytester.makepyfile(test_next=NOT_THE_NEXT_TESTS)
    gated.project('[tool.gridgate.memory]\nlimit = "100MB"\n')
    result, report = gated.run(*RUN, timeout=600)
    assert _errors(result) == {"test_teardown_raises", "test_leaves_a_big_child_running"}, (
        result.stdout.str()
    )
    assert _entry(report, "test_leaves_a_big_child_running")["children"] >= 270 * MB
    peaks = [e for e in report["memory"] if e["kind"] == "peak"]
    for test in ("test_after_the_broken_teardown", "test_after_the_child"):
        assert all(e["bytes"] < 20 * MB for e in peaks if e["nodeid"].endswith(test)), peaks
    # The test whose teardown raised is not measured, but the process's peak during it is.
    process = _entry(report, "test_teardown_raises", "process")
    assert process["bytes"] >= 300 * MB, process


TAKES_THE_METERS_NUMBER = """
    import os

    KEPT = []


    def test_takes_the_number(tmp_path_factory):
        # Close the meter's clear_refs descriptor, and open a file of its own until it
        # gets that very number (kept open past the test, in the module).
        [fd] = [
            int(name)
            for name in os.listdir("/proc/self/fd")
            if os.path.basename(os.path.realpath(f"/proc/self/fd/{name}")) == "clear_refs"
        ]
        os.close(fd)
        path = os.environ["MINE"]
        opened = []
        while (new := os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)) != fd:
            opened.append(new)
        for other in opened:
            os.close(other)
        KEPT.append(new)


    def test_still_measured():
        data = b"x" * 60_000_000
        del data
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="the exact meter is Linux's")
def test_a_file_that_takes_the_meters_number_is_never_written(
    pytester: pytest.Pytester, gated: Gated, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The meter resets the peak by writing "5" into its clear_refs descriptor. A test that
    # closes it and opens a file that gets its number: the meter must know the descriptor
    # is no longer its own, write nothing into the file, and measure on by its fallback.
    mine = pytester.path / "mine.txt"
    monkeypatch.setenv("MINE", str(mine))
    pytester.makepyfile(test_number=TAKES_THE_METERS_NUMBER)
    gated.project('[tool.gridgate.leaks]\naction = "off"\n[tool.gridgate.memory]\nlimit = "40MB"\n')
    result, report = gated.run(*RUN, timeout=600)
    assert mine.read_bytes() == b""
    assert _errors(result) == {"test_still_measured"}, result.stdout.str()
    assert _entry(report, "test_still_measured")["bytes"] >= 50 * MB


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="the exact meter is Linux's")
def test_a_kernel_that_refuses_a_marking_flag_still_gives_the_exact_meter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The meter opens clear_refs with flags that mark the descriptor as its own. A kernel
    # that refuses one of them (EINVAL for O_DSYNC, say) must cost the mark, not the exact
    # meter: the meter opens with fewer marks and measures as before.
    real_open = os.open

    def refusing_dsync(path: str, flags: int, *args: Any) -> int:
        if str(path).endswith("clear_refs") and flags & os.O_DSYNC:
            raise OSError(errno.EINVAL, "O_DSYNC refused")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refusing_dsync)
    meter = ProcMeter()
    monkeypatch.undo()
    try:
        assert (meter.exact, meter.name) == (True, "linux")
        meter.start()
        data = b"x" * 50_000_000
        del data
        assert meter.lap().peak >= 45 * MB
        assert meter.name == "linux"  # the descriptor was still known as its own
    finally:
        meter.close()
