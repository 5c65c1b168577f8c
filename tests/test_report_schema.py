"""The JSON gate report against docs/report.schema.json (every report the suite makes is
checked by tests/conftest.py; these tests check the schema itself)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import report_validator

SUITE = """
import os, subprocess, threading, time
import pytest

def test_passes():
    pass

def test_leaks_a_thread():
    threading.Thread(target=time.sleep, args=(1,), daemon=True).start()

@pytest.mark.timeout(0.5)
def test_hangs():
    time.sleep(30)

def test_fails():
    assert False
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    project = tmp_path_factory.mktemp("schema")
    (project / "test_suite.py").write_text(SUITE)
    (project / "pyproject.toml").write_text(
        "[tool.gridgate.leaks]\naction = 'warn'\n[tool.gridgate.env]\nGG_SCHEMA = '1'\n"
    )
    subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--gridgate-report=r.json"],
        cwd=project,
        capture_output=True,
        timeout=240,
        check=False,
    )
    return json.loads((project / "r.json").read_text())  # type: ignore[no-any-return]


def test_a_real_report_follows_the_schema(report: dict[str, Any]) -> None:
    assert all(report[name] for name in ("timeouts", "leaks", "leak_groups", "env")), report
    report_validator().validate(report)


def test_every_section_of_the_gates_is_described(report: dict[str, Any]) -> None:
    described = set(report_validator().schema["properties"])
    assert set(report) <= described, set(report) - described


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("version",), 2),
        (("outcome",), "green"),
        (("counts", "passed"), -1),
        (("leaks", 0, "cleaned"), "yes"),
        (("timeouts", 0, "phase"), "lunch"),
        (("gates", 0, "details"), "one string"),
        (("env", "values"), {"GG_SCHEMA": "1"}),
        (("memory",), [{"nodeid": "t", "kind": "peak", "bytes": 1.5, "limit": 0}]),
        (("failures", 0, "category"), "bad luck"),
    ],
)
def test_the_schema_refuses_a_broken_report(
    report: dict[str, Any], path: tuple[Any, ...], value: Any
) -> None:
    broken = copy.deepcopy(report)
    target = broken
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    assert not report_validator().is_valid(broken)
