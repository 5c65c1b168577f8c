"""Every gate's behaviour, with one neighbour plugin installed beside gridgate.

One module for the whole matrix: the environment (``COMPAT_ENVIRONMENT``, set by the
noxfile; ``alone`` in the normal suite) decides which plugin is installed, how the inner
runs switch it on and what gridgate must say about it (``compat_environments.py``). The
tests are the same everywhere: the collection gate, timeouts (stage one and stage two),
each leak kind, the memory gate, environment defaults, the gate report, and the start-up
lines about the neighbour's settings. Each test is a real pytest run in a subprocess, read
through its JSON gate report.
"""

from __future__ import annotations

import json
import os
import textwrap
import uuid
from typing import Any

import pytest
from compat_environments import ALONE, ENV_VARIABLE, ENVIRONMENTS, Environment

ENV_NAME = os.environ.get(ENV_VARIABLE, ALONE)
if ENV_NAME not in ENVIRONMENTS:
    raise pytest.UsageError(
        f"{ENV_VARIABLE}={ENV_NAME!r}: not an environment of tests/compat/compat_environments.py"
    )
ENV: Environment = ENVIRONMENTS[ENV_NAME]
# Under --reruns a test that fails (a leak, a timeout) runs again: each attempt is reported.
ATTEMPTS = 1 + (int(ENV.args[ENV.args.index("--reruns") + 1]) if "--reruns" in ENV.args else 0)


@pytest.fixture(autouse=True)
def _environment_recorded(record_property: Any) -> None:
    # In the junit results the docs generator reads (tools/compat_table.py).
    record_property("compat_env", ENV_NAME)


def _project(pytester: pytest.Pytester, gridgate: str = "", **modules: str) -> None:
    ini = "\n".join(("[tool.pytest.ini_options]", *ENV.ini))
    pytester.makepyprojecttoml(
        ini + '\n\n[tool.gridgate.leaks]\naction = "fail"\n' + textwrap.dedent(gridgate)
    )
    for name, body in ENV.files:
        (pytester.path / name).write_text(textwrap.dedent(body))
    if ENV.plugin_test:
        modules["test_plugin_feature"] = ENV.plugin_test
    pytester.makepyfile(**{name: textwrap.dedent(body) for name, body in modules.items()})


def _run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    result = pytester.runpytest_subprocess(
        *ENV.args, *args, "--gridgate-report", "r.json", timeout=300
    )
    path = pytester.path / "r.json"
    assert path.exists(), result.stdout.str() + result.stderr.str()
    report: dict[str, Any] = json.loads(path.read_text())
    # The report's verdict is the process's, whatever the neighbour did to the run.
    assert report["exit_code"] == result.ret, result.stdout.str()
    return result, report


def _passed(report: dict[str, Any], gate: str) -> bool:
    [verdict] = [each for each in report["gates"] if each["gate"] == gate]
    return bool(verdict["passed"])


def test_collection_gate(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        test_good="def test_good():\n    pass\n",
        test_exits="import sys\nsys.exit(3)\n",
        test_broken="def test_broken(:\n    pass\n",
    )
    result, report = _run(pytester)
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    errors = sorted({entry["nodeid"] for entry in report["collection_errors"]})
    assert errors == ["test_broken.py", "test_exits.py"], result.stdout.str()
    assert not _passed(report, "collection")


def test_collection_gate_fails_on_no_tests(pytester: pytest.Pytester) -> None:
    _project(pytester, test_empty="# no tests here\n")
    if ENV.plugin_test:
        (pytester.path / "test_plugin_feature.py").unlink()
    result, report = _run(pytester)
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    assert report["counts"]["collected"] == 0
    assert not _passed(report, "collection")


LEAKY = """
    import asyncio
    import os
    import signal
    import socket
    import subprocess
    import sys
    import threading

    KEEP = []


    def test_thread():
        stop = threading.Event()
        KEEP.append(stop)
        threading.Thread(target=stop.wait, name="compat-leaky", daemon=True).start()


    def test_process():
        KEEP.append(subprocess.Popen(["sleep", os.environ["GG_COMPAT_SLEEP"]]))


    def test_zombie():
        proc = subprocess.Popen([sys.executable, "-c", "pass"])
        KEEP.append(proc)
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped


    def test_fd():
        KEEP.append(open(__file__))


    def test_socket():
        KEEP.append(socket.socket())


    def test_environ():
        os.environ["GG_COMPAT_LEAKED"] = "1"


    def test_cwd(tmp_path):
        os.chdir(tmp_path)


    def test_signal():
        signal.signal(signal.SIGUSR1, lambda signum, frame: None)


    def test_asyncio():
        KEEP.append(asyncio.new_event_loop())


    def test_clean(tmp_path, monkeypatch):
        monkeypatch.setenv("GG_COMPAT_MONKEYPATCHED", "1")
        monkeypatch.chdir(tmp_path)
        with open(__file__) as f:
            f.read()
        asyncio.run(asyncio.sleep(0))
"""

LEAK_KINDS = ["thread", "process", "zombie", "fd", "socket", "environ", "cwd", "signal", "asyncio"]


def test_every_leak_kind(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GG_COMPAT_SLEEP", f"600.{uuid.uuid4().int % 10**6:06d}")
    _project(pytester, test_leaky=LEAKY)
    result, report = _run(pytester)
    found = sorted((entry["nodeid"], entry["kind"]) for entry in report["leaks"])
    expected = sorted(
        (f"test_leaky.py::test_{kind}", kind) for kind in LEAK_KINDS for _ in range(ATTEMPTS)
    )
    assert found == expected, result.stdout.str()
    # The clean test and the plugin's own features leave nothing behind.
    assert report["counts"]["failed"] == 0, result.stdout.str()
    assert report["counts"]["errors"] == len(LEAK_KINDS), result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert not _passed(report, "leaks")


MEMORY = """
    import pytest


    @pytest.fixture
    def big():
        data = b"x" * 150_000_000
        del data
        yield


    def test_over_in_its_fixture(big):
        pass


    @pytest.mark.gridgate_memory("1GB")
    def test_over_but_marked():
        data = b"x" * 150_000_000
        del data


    def test_small():
        data = b"x" * 5_000_000
        del data
"""
MB = 1_000_000


def test_memory_gate(pytester: pytest.Pytester) -> None:
    _project(pytester, '[tool.gridgate.memory]\nlimit = "50MB"\n', test_memory=MEMORY)
    result, report = _run(pytester)
    entries = report["memory"]
    peaks = {e["nodeid"]: e for e in entries if e["kind"] == "peak"}
    # A fixture's allocation counts, to within 10 %; a marker raises its test's limit.
    over = sorted(nodeid for nodeid, e in peaks.items() if e["bytes"] > e["limit"] > 0)
    assert over == ["test_memory.py::test_over_in_its_fixture"], result.stdout.str()
    assert 135 * MB <= peaks[over[0]]["bytes"] <= 165 * MB, peaks[over[0]]
    marked = peaks["test_memory.py::test_over_but_marked"]
    assert marked["bytes"] >= 135 * MB, marked
    assert marked["limit"] == 1000 * MB, marked
    # An error in the teardown of the test over its limit, each attempt (under --reruns,
    # pytest-rerunfailures reports every attempt but the last as a rerun); the rest pass.
    assert report["counts"]["errors"] == 1, result.stdout.str()
    assert report["counts"].get("rerun", 0) == ATTEMPTS - 1, result.stdout.str()
    assert [
        e["nodeid"] for e in entries if e["kind"] == "peak" and e["bytes"] > e["limit"] > 0
    ] == ["test_memory.py::test_over_in_its_fixture"] * ATTEMPTS, entries
    assert report["counts"]["failed"] == 0, result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert not _passed(report, "memory")
    # Every pytest process has its peak: each xdist worker and the controller.
    processes = {e["process"] for e in entries if e["kind"] == "process"}
    if ENV.xdist:
        assert "controller" in processes, processes
        assert len(processes) >= 2, processes
    else:
        assert processes == {"main"}, processes


def test_stage_one_timeout_fails_the_test_and_the_run_goes_on(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        test_slow="""
            import time
            import pytest

            @pytest.mark.timeout(1)
            def test_sleeps():
                time.sleep(60)

            def test_after():
                pass
        """,
    )
    result, report = _run(pytester)
    stages = [(entry["nodeid"], entry["stage"]) for entry in report["timeouts"]]
    assert stages == [("test_slow.py::test_sleeps", 1)] * ATTEMPTS, result.stdout.str()
    assert report["counts"]["failed"] == 1, result.stdout.str()
    assert report["counts"]["passed"] >= 1
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert not _passed(report, "timeouts")


def test_stage_two_ends_a_test_that_blocks_the_alarm(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        "[tool.gridgate.timeouts]\nkill_after = 1\n",
        test_blocked="""
            import signal
            import time
            import pytest

            @pytest.mark.timeout(1)
            def test_blocked():
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
                time.sleep(120)
        """,
    )
    result, report = _run(pytester)
    entries = [entry for entry in report["timeouts"] if entry["stage"] == 2]
    assert [entry["nodeid"] for entry in entries][:1] == ["test_blocked.py::test_blocked"], (
        result.stdout.str() + result.stderr.str()
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert not _passed(report, "timeouts")


ENV_CONFTEST = """
    import os

    # Read at import: gridgate's defaults are there before any conftest is imported.
    AT_IMPORT = {name: os.environ.get(name) for name in ("GG_COMPAT_APPLIED", "GG_COMPAT_SHARED")}
"""

ENV_TESTS = """
    import os
    import pytest
    from conftest import AT_IMPORT

    def test_defaults_before_conftest():
        assert AT_IMPORT == {"GG_COMPAT_APPLIED": "gridgate", "GG_COMPAT_SHARED": %r}

    @pytest.mark.gridgate_env(GG_COMPAT_MARKED="marked")
    def test_marker():
        assert os.environ["GG_COMPAT_MARKED"] == "marked"
"""


def test_env_defaults_and_what_is_said_about_the_neighbour(pytester: pytest.Pytester) -> None:
    shared = "from-pytest-env" if ENV.env_value_from_plugin else "gridgate"
    pytester.makeconftest(textwrap.dedent(ENV_CONFTEST))
    _project(
        pytester,
        '[tool.gridgate.env]\nGG_COMPAT_APPLIED = "gridgate"\nGG_COMPAT_SHARED = "gridgate"\n',
        test_env=ENV_TESTS % shared,
    )
    result, report = _run(pytester)
    # The marker's variable was restored: no environ leak.
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert report["leaks"] == []
    kept = ["GG_COMPAT_SHARED"] if ENV.env_value_from_plugin else []
    assert report["env"] == {
        "applied": sorted({"GG_COMPAT_APPLIED", "GG_COMPAT_SHARED"} - set(kept)),
        "kept": kept,
    }
    # Said once at start-up and in the report: exactly what the environment expects.
    messages = [entry["message"] for entry in report.get("neighbours", [])]
    assert len(messages) == len(ENV.neighbours), messages
    for message, expected in zip(messages, ENV.neighbours, strict=True):
        assert message.startswith(expected), messages
    for entry in report.get("neighbours", []):
        assert f"gridgate: {entry['plugin']}: {entry['message']}" in result.stdout.lines


def test_report_of_a_clean_run(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        test_clean="""
            import pytest

            def test_one():
                pass

            def test_two():
                pass

            @pytest.mark.skip(reason="compat")
            def test_skipped():
                pass
        """,
    )
    result, report = _run(pytester, "--gridgate-summary", "summary.md")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert report["outcome"] == "passed"
    counts = report["counts"]
    assert (counts["failed"], counts["errors"], counts["skipped"]) == (0, 0, 1)
    assert counts["passed"] >= 2 + bool(ENV.plugin_test)
    assert {"collection", "tests", "timeouts", "leaks"} <= {g["gate"] for g in report["gates"]}
    assert all(gate["passed"] for gate in report["gates"]), report["gates"]
    assert "gridgate" in (pytester.path / "summary.md").read_text()
    result.stdout.fnmatch_lines(["*gridgate: passed (exit code 0)*"])
