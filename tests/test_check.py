"""``gridgate check``: scanner and pytest on a project, one verdict, one exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _check(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_gridgate.cli", "check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
    )


def _verdicts(stdout: str) -> list[str]:
    table = stdout.split("== gridgate check: verdict for", 1)[1].splitlines()[1:]
    return [" ".join(line.split()[:2]) for line in table if not line.startswith("gridgate")]


def test_check_passing_and_failing_project(pytester: pytest.Pytester) -> None:
    project = pytester.mkdir("project")
    (project / "pyproject.toml").write_text("[tool.gridgate.env]\nGG_CHECK = '1'\n")
    (project / "test_ok.py").write_text(
        "import os\n\ndef test_ok():\n    assert os.environ['GG_CHECK'] == '1'\n"
        "\ndef test_other():\n    pass\n"
    )
    # Arguments after "--" go to pytest.
    passing = _check("project", "--", "-k", "not other", cwd=pytester.path)

    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "1 passed, 1 deselected" in passing.stdout
    assert _verdicts(passing.stdout)[1:] == [
        "PASS collection",
        "PASS tests",
        "PASS timeouts",
        "PASS leaks",
        "PASS env",
    ]
    assert passing.stdout.rstrip().endswith("gridgate check: passed")
    # The scanner runs first, on the same project.
    assert _verdicts(passing.stdout)[0] == "PASS scan"

    (project / "test_broken.py").write_text("import gg_missing_module\n")
    failing = _check(cwd=project)

    assert failing.returncode == 1
    verdicts = _verdicts(failing.stdout)
    # Collection errors do not hide the other gates' verdicts.
    assert verdicts[1:3] == ["FAIL collection", "PASS tests"]
    assert "gridgate check: FAILED (collection" in failing.stdout


def test_check_usage_and_configuration_errors(pytester: pytest.Pytester) -> None:
    missing = _check("no-such-dir", cwd=pytester.path)
    assert missing.returncode == 2
    assert "no-such-dir: not a directory" in missing.stderr

    pytester.makepyprojecttoml("[tool.gridgate.timeouts]\ndefault = 'abc'\n")
    bad_config = _check(cwd=pytester.path)
    assert bad_config.returncode == 2
    assert "ERROR pytest" in bad_config.stdout
    assert "usage or configuration error" in bad_config.stdout
