"""``gridgate check``: scanner and pytest on a project, one verdict, one exit code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from pytest_gridgate import __version__


def _environ(**extra: str) -> dict[str, str]:
    # The outer run may sit in an activated environment; each test says which it wants.
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX")}
    env.update(extra)
    return env


def _gridgate(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_gridgate.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        env=_environ() if env is None else env,
    )


def _check(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # The projects live in temporary directories, outside this interpreter's environment:
    # name it, as a user of a separately installed gridgate would.
    return _gridgate("check", "--python", sys.executable, *args, cwd=cwd)


def _verdicts(stdout: str) -> list[str]:
    table = stdout.split("== gridgate check: verdict for", 1)[1].splitlines()[1:]
    return [" ".join(line.split()[:2]) for line in table if not line.startswith("gridgate")]


def _project_env(where: Path, module: str) -> Path:
    """A virtual environment that sees gridgate (through this one) and a module of its own,
    like a project's .venv with the project's dependencies installed."""
    venv.create(where, with_pip=False)
    (site_packages,) = where.glob("lib/python*/site-packages")
    own = sysconfig.get_paths()["purelib"]
    (site_packages / "outer.pth").write_text(f"import site; site.addsitedir({own!r})\n")
    (site_packages / f"{module}.py").write_text("VALUE = 42\n")
    return where


NEEDS_PROJECT_ENV = (
    "import only_in_project_env\n\ndef test_dep():\n    assert only_in_project_env.VALUE == 42\n"
)


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
        "PASS quarantine",
        "PASS flaky",
        "PASS failures",
        "PASS memory",
        "PASS leaks",
        "PASS env",
    ]
    last = passing.stdout.rstrip().splitlines()[-1]
    assert last == "gridgate check: passed, exit code 0 (scanner exited 0, pytest exited 0)"
    # The scanner runs first, on the same project.
    assert _verdicts(passing.stdout)[0] == "PASS scan"

    (project / "test_broken.py").write_text("import gg_missing_module\n")
    failing = _check(cwd=project)

    assert failing.returncode == 1
    verdicts = _verdicts(failing.stdout)
    # Collection errors do not hide the other gates' verdicts.
    assert verdicts[1:3] == ["FAIL collection", "PASS tests"]
    assert "gridgate check: FAILED (collection" in failing.stdout


ONE_OF_EACH = """
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("fixture")

def test_pass(): pass
def test_fail(): assert False
def test_error(broken): pass
"""


def test_one_run_one_set_of_numbers(pytester: pytest.Pytester) -> None:
    """Every count and exit code in check's output is one the tool that made it printed."""
    pytester.makepyfile(test_mixed=ONE_OF_EACH, test_exits="import sys\nsys.exit(1)\n")
    pytester.path.joinpath("lib.py").write_text(
        "import asyncio\n\nasync def f():\n    return asyncio.get_event_loop()\n"
    )
    result = _check(cwd=pytester.path)
    out = result.stdout

    assert result.returncode == 1, out + result.stderr
    # pytest's last line and the tests verdict count the same errors: the failing
    # fixture's and the module that exits at import (a collection error, named so).
    pytest_line = re.search(r"=+ (.*) in [\d.]+s", out)
    assert pytest_line is not None
    assert "1 failed, 1 passed, 2 errors" in pytest_line.group(1)
    tests_line = next(line for line in out.splitlines() if line.startswith("FAIL  tests"))
    assert tests_line.split(None, 2)[2] == "1 passed, 1 failed, 2 errors (1 in collection)"
    # pytest's own section names pytest's code; the last line names every tool's.
    assert "gridgate: failed (exit code 2)" in out
    assert out.rstrip().endswith("exit code 1 (scanner exited 1, pytest exited 2)")
    # The scan section is the scanner's text output, under a heading that says so.
    section = out.split("== gridgate check: scan (gridgate scan)\n", 1)[1]
    section = section.split("\n\n== gridgate check: pytest", 1)[0]
    scanner = subprocess.run(
        [sys.executable, "-m", "scanners"], cwd=pytester.path, capture_output=True,
        text=True, timeout=240,
    )  # fmt: skip
    assert scanner.returncode == 1
    assert section.splitlines() == scanner.stdout.splitlines()
    assert "--format json" not in out


def test_check_usage_and_configuration_errors(pytester: pytest.Pytester) -> None:
    missing = _check("no-such-dir", cwd=pytester.path)
    assert missing.returncode == 2
    assert "no-such-dir: not a directory" in missing.stderr

    pytester.makepyprojecttoml("[tool.gridgate.timeouts]\ndefault = 'abc'\n")
    bad_config = _check(cwd=pytester.path)
    assert bad_config.returncode == 2
    assert "ERROR pytest" in bad_config.stdout
    assert "usage or configuration error" in bad_config.stdout


def test_config_option_reaches_scanner_and_pytest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_few="def test_one(): pass\n")
    other = pytester.mkdir("other")
    (other / "pyproject.toml").write_text(
        "[tool.gridgate.collection]\nmin_tests = 5\n[tool.gridgate.scan]\nselect = ['GG005']\n"
    )
    # scan.paths are relative to the configuration file's directory, and a scan of no file
    # is exit 2 (issue 13 item 2): give it one.
    (other / "tool.py").write_text("x = 1\n")
    result = _check("--config", "other/pyproject.toml", cwd=pytester.path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL  collection" in result.stdout  # 1 test < min_tests = 5
    assert "--config" in _gridgate("check", "--help", cwd=pytester.path).stdout


def test_pipx_style_install_stops_at_once(pytester: pytest.Pytester) -> None:
    """gridgate's own environment, outside the project and not activated, is not used."""
    pytester.makepyfile(test_dep=NEEDS_PROJECT_ENV)
    result = _gridgate("check", cwd=pytester.path)
    assert result.returncode == 2
    assert result.stdout == ""  # before any gate runs
    (message,) = result.stderr.splitlines()
    assert message.startswith("gridgate check: error: gridgate runs in ")
    assert "--python PATH" in message
    assert str(pytester.path / ".venv") in message


def test_project_interpreter_from_dot_venv_virtual_env_or_option(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_dep=NEEDS_PROJECT_ENV)
    _project_env(pytester.path / ".venv", "only_in_project_env")
    local = _gridgate("check", cwd=pytester.path)
    assert local.returncode == 0, local.stdout + local.stderr
    assert f"({pytester.path / '.venv' / 'bin' / 'python'}, " in local.stdout

    elsewhere = pytester.path / ".venv"
    elsewhere.rename(pytester.path.parent / "env-elsewhere")
    elsewhere = pytester.path.parent / "env-elsewhere"
    activated = _gridgate("check", cwd=pytester.path, env=_environ(VIRTUAL_ENV=str(elsewhere)))
    assert activated.returncode == 0, activated.stdout + activated.stderr
    assert "$VIRTUAL_ENV)" in activated.stdout

    named = _gridgate("check", "--python", str(elsewhere), cwd=pytester.path)
    assert named.returncode == 0, named.stdout + named.stderr
    assert "--python)" in named.stdout


def test_interpreter_without_gridgate_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ok="def test_ok(): pass\n")
    bare = pytester.path / "bare"
    venv.create(bare, with_pip=False)
    result = _gridgate("check", "--python", str(bare / "bin" / "python"), cwd=pytester.path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "No module named 'pytest_gridgate'" in result.stderr
    assert "-m pip install pytest-gridgate" in result.stderr


def test_help_version_and_usage_streams(pytester: pytest.Pytester) -> None:
    for flag in ("-V", "--version"):
        version = _gridgate(flag, cwd=pytester.path)
        assert (version.returncode, version.stdout) == (0, f"gridgate {__version__}\n")
    asked = _gridgate("--help", cwd=pytester.path)
    assert asked.returncode == 0
    assert asked.stdout.startswith("usage: gridgate")
    assert asked.stderr == ""
    for wrong in ([], ["frobnicate"], ["--bogus"], ["check", "--bogus"], ["init", "--bogus"]):
        result = _gridgate(*wrong, cwd=pytester.path)
        assert result.returncode == 2, wrong
        assert result.stdout == "", wrong
        assert "usage: gridgate" in result.stderr, wrong
    check_help = _gridgate("check", "--help", cwd=pytester.path)
    assert check_help.returncode == 0
    for option in ("--config FILE", "--python PATH", "-q, --quiet", "-v, --verbose"):
        assert option in check_help.stdout


def test_quiet_and_verbose(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ok="def test_ok(): pass\n")
    calls = "\n".join(f"    asyncio.get_event_loop()  # {i}" for i in range(55))
    pytester.path.joinpath("many.py").write_text(f"import asyncio\n\ndef f():\n{calls}\n")

    default = _check(cwd=pytester.path)
    assert default.stdout.count(": GG001 ") == 50
    assert "... and 5 more (gridgate check -v lists them all)" in default.stdout
    assert "Found 55 findings" in default.stdout  # the scanner's closing line stays

    verbose = _check("-v", cwd=pytester.path)
    assert verbose.stdout.count(": GG001 ") == 55
    assert "test_ok.py::test_ok PASSED" in verbose.stdout  # pytest -v

    quiet = _check("-q", cwd=pytester.path)
    assert ": GG001 " not in quiet.stdout
    assert "test session starts" not in quiet.stdout  # pytest -q
    assert "FAIL  scan        55 findings (GG001)" in quiet.stdout
    assert quiet.returncode == default.returncode == verbose.returncode == 1


def test_gridgate_in_the_repositorys_environment_wins(pytester: pytest.Pytester) -> None:
    """`.venv/bin/gridgate check sub/` in a clone uses that .venv, whatever is activated."""
    (pytester.path / ".git").mkdir()
    project = pytester.mkdir("sub")
    (project / "test_dep.py").write_text(NEEDS_PROJECT_ENV)
    env_dir = _project_env(pytester.path / ".venv", "only_in_project_env")
    other = _project_env(pytester.path.parent / f"{pytester.path.name}-other", "unrelated")
    result = subprocess.run(
        [str(env_dir / "bin" / "python"), "-m", "pytest_gridgate.cli", "check", "sub"],
        cwd=pytester.path, capture_output=True, text=True, timeout=240,
        env=_environ(VIRTUAL_ENV=str(other)),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gridgate's virtual environment, in the project" in result.stdout
