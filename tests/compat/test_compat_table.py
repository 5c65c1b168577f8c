"""docs/compatibility.md is written from the matrix's result files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("compat_table.py")


def _results(
    directory: Path, name: str, failing: tuple[str, ...], versions: dict[str, str]
) -> None:
    cases = [
        "test_collection_gate",
        "test_collection_gate_fails_on_no_tests",
        "test_every_leak_kind",
        "test_memory_gate",
        "test_stage_one_timeout_fails_the_test_and_the_run_goes_on",
        "test_stage_two_ends_a_test_that_blocks_the_alarm",
        "test_env_defaults_and_what_is_said_about_the_neighbour",
        "test_report_of_a_clean_run",
    ]
    xml = "".join(
        f'<testcase classname="test_compat_gates" name="{case}">'
        + ('<failure message="x">x</failure>' if case in failing else "")
        + "</testcase>"
        for case in cases
    )
    (directory / f"{name}.xml").write_text(
        f'<?xml version="1.0"?><testsuites><testsuite name="pytest">{xml}</testsuite></testsuites>'
    )
    packages = [{"name": key, "version": value} for key, value in versions.items()]
    (directory / f"{name}.json").write_text(json.dumps({"python": "3.12.1", "packages": packages}))


def test_table_from_results(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    _results(results, "alone", (), {"pytest": "9.9.0", "pytest-gridgate": "0.1.0"})
    _results(
        results, "django", ("test_every_leak_kind",), {"pytest-django": "4.1", "Django": "5.0"}
    )
    output = tmp_path / "compatibility.md"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(results), str(output)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = output.read_text()
    assert "Tried with pytest 9.9.0 on Python 3.12.1" in text
    assert "| pytest-gridgate (alone) | pytest-gridgate 0.1.0 | everything | nothing |" in text
    assert "| pytest-django | pytest-django 4.1, django 5.0 | " in text
    assert "**breaks: all 9 leak kinds**" in text
    assert "| pytest-cov | ? | **not run** |" in text  # no result: said, not hidden


def test_no_results_is_an_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path), str(tmp_path / "out.md")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "no results" in done.stderr
    assert not (tmp_path / "out.md").exists()
