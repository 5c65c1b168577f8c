"""``gridgate scan`` never passes on nothing (issue 13 items 1, 2, 3 and 14).

Each test runs the real command in a subprocess, as a user or CI would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

EXIT_IN_LIBRARY = "import sys\n\n\ndef load():\n    sys.exit(1)\n"


def scan(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scanners", "--no-cache", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text(EXIT_IN_LIBRARY)
    return tmp_path


# -- item 1: unknown codes and empty selections -------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["--select", "XX999"],
            {},
            "gridgate scan: --select: unknown rule code 'XX999' (known: GG000-GG012, GW000-GW006)",
        ),
        (
            ["--select", "GG0001"],
            {},
            "gridgate scan: --select: unknown rule code 'GG0001'; did you mean GG001?",
        ),
        (["--ignore", "GW01"], {}, "gridgate scan: --ignore: unknown rule code 'GW01'; did you"),
        (
            [],
            {"GRIDGATE_SCAN_SELECT": "XX"},
            "gridgate scan: GRIDGATE_SCAN_SELECT: unknown rule code 'XX'",
        ),
        (
            ["--select", "GG00", "--ignore", "GG00"],
            {},
            "gridgate scan: no rule selected: select ['GG00'] with ignore ['GG00'] leaves "
            "nothing to check",
        ),
        (
            ["--select", "GW", "--ignore", "GW,GG"],
            {},
            "gridgate scan: no rule selected:",
        ),
    ],
)
def test_unknown_codes_and_empty_selections_are_usage_errors(
    project: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    result = scan(project, *args, env=env)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith(message), result.stderr
    assert result.stderr.count("\n") == 1


def test_unknown_codes_in_the_configuration_name_file_and_key(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.gridgate.scan]\nselect = ["GG"]\nper_file_ignores = { "pkg/*" = ["GG04"] }\n'
    )
    result = scan(project)
    assert result.returncode == 2
    assert result.stderr.startswith(
        "gridgate scan: pyproject.toml: scan.per_file_ignores['pkg/*']: unknown rule code "
        "'GG04'; did you mean GG004?"
    )
    (project / "pyproject.toml").write_text('[tool.gridgate.scan]\nignore = ["GG", "GW"]\n')
    result = scan(project)
    assert result.returncode == 2
    assert "no rule selected" in result.stderr


def test_known_codes_and_prefixes_still_work(project: Path) -> None:
    # A longer select beats a shorter ignore (ruff's rule), and a prefix is a selection.
    result = scan(project, "--select", "GG004", "--ignore", "GG")
    assert result.returncode == 1
    assert result.stdout.startswith("pkg/mod.py:5:5: GG004 ")
    assert scan(project, "--select", "GG00").returncode == 1


# -- item 2: no file to scan ---------------------------------------------------------------


def test_no_file_to_scan_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "README.md").write_text("not Python\n")
    named = scan(tmp_path, "empty")
    assert (named.returncode, named.stdout) == (2, "")
    assert named.stderr.startswith("gridgate scan: no file to scan in the given PATHS ('empty')")
    assert scan(tmp_path, "README.md").returncode == 2
    # The configured paths too: a project whose scan.paths hold nothing is not clean.
    (tmp_path / "gridgate.yaml").write_text("scan:\n  paths: [empty]\n")
    configured = scan(tmp_path)
    assert configured.returncode == 2
    assert "no file to scan in gridgate.yaml: scan.paths ('empty')" in configured.stderr
    # ... and so is one whose exclude drops every file.
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "ok.py").write_text("x = 1\n")
    (tmp_path / "gridgate.yaml").write_text("scan:\n  paths: [src]\n  exclude: ['src/**']\n")
    assert scan(tmp_path).returncode == 2


def test_pre_commit_list_emptied_by_exclude_passes(project: Path) -> None:
    """The hook passes --pre-commit: files it names are subject to scan.exclude, and when
    exclude drops them all, that commit has nothing to check: exit 0."""
    (project / "gridgate.yaml").write_text("scan:\n  exclude: ['pkg/**']\n")
    result = scan(project, "--pre-commit", "pkg/mod.py")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "All checks passed (0 files scanned).\n"


# -- item 3: a file named on the command line --------------------------------------------


def test_a_named_file_is_scanned_even_when_excluded(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.gridgate.scan]\nexclude = ["pkg/**"]\n')
    assert scan(project).returncode == 2  # the whole-project scan has nothing left

    named = scan(project, "pkg/mod.py")
    assert named.returncode == 1
    assert named.stdout.startswith("pkg/mod.py:5:5: GG004 ")
    assert "(1 file scanned)" in named.stdout

    # So is a named directory that exclude covers as a whole, like ruff.
    directory = scan(project, "pkg")
    assert directory.returncode == 1
    assert "(2 files scanned)" in directory.stdout

    forced = scan(project, "--force-exclude", "pkg/mod.py")
    assert forced.returncode == 2
    assert "no file to scan" in forced.stderr


def test_exclude_still_applies_inside_a_named_directory(project: Path) -> None:
    (project / "pkg" / "generated").mkdir()
    (project / "pkg" / "generated" / "gen.py").write_text(EXIT_IN_LIBRARY)
    (project / "pyproject.toml").write_text('[tool.gridgate.scan]\nexclude = ["generated"]\n')
    result = scan(project, "pkg")
    assert result.returncode == 1
    assert "generated" not in result.stdout
    assert "(2 files scanned)" in result.stdout


def test_the_demo_file_from_the_issue() -> None:
    """`gridgate scan examples/src/demo_app/shell.py` from the repository root."""
    root = Path(__file__).resolve().parent.parent
    result = scan(root, "examples/src/demo_app/shell.py")
    assert result.returncode == 1
    assert "(1 file scanned)" in result.stdout
    assert "examples/src/demo_app/shell.py:" in result.stdout


# -- item 14: a directory that cannot be read --------------------------------------------


@pytest.fixture
def unreadable_project(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "fine.py").write_text("x = 1\n")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "hidden.py").write_text(EXIT_IN_LIBRARY)
    (tmp_path / "secret").chmod(0)
    try:
        yield tmp_path
    finally:
        (tmp_path / "secret").chmod(0o755)


def _without_override() -> list[str]:
    """A command prefix under which permissions apply: root reads everything unless its
    DAC capabilities are dropped (util-linux's setpriv); other users need nothing."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: every directory is readable")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, "--bounding-set", caps, "--inh-caps", caps]


def test_an_unreadable_directory_is_a_finding(unreadable_project: Path) -> None:
    prefix = _without_override()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, sys.executable, "-m", "scanners", "--no-cache", *args],
            cwd=unreadable_project,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )

    result = run()
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "secret:1:1: GG000 cannot read directory: Permission denied",
        "Found 1 finding (1 file scanned).",
    ]
    # Named directly, the same (and not "no file to scan").
    named = run("secret")
    assert named.returncode == 1, named.stderr
    assert named.stdout.startswith("secret:1:1: GG000 cannot read directory: Permission denied")
    # Inside a git work tree, where git lists the files and warns about the directory.
    subprocess.run(["git", "init", "-q"], cwd=unreadable_project, check=True, timeout=60)
    in_git = run()
    assert in_git.returncode == 1, in_git.stderr
    assert in_git.stdout.startswith("secret:1:1: GG000 cannot read directory: Permission denied")
