"""Which files a scan sees, and which codes are on for them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scanners.discovery import discover
from scanners.globs import glob_covers
from scanners.output.github_format import escape_data, escape_property
from scanners.selection import Selector

SHELL = "import os\n\nos.system('x')\n"


def make_tree(root: Path) -> None:
    for name in (
        "app/main.py",
        "app/ignored_by_git.py",
        "build/gen.py",
        ".venv/lib/site.py",
        "env2/lib/x.py",
        "node_modules/pkg/x.py",
        ".tox/py/x.py",
        "app/__pycache__/x.py",
        ".github/workflows/ci.yml",
        "docs/conf.yml",
        "app/data.txt",
    ):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(SHELL)
    (root / ".venv" / "pyvenv.cfg").write_text("home = /usr\n")
    (root / "env2" / "pyvenv.cfg").write_text("home = /usr\n")
    (root / ".gitignore").write_text("ignored_by_git.py\n")


EXPECTED = ["app/main.py", "build/gen.py", ".github/workflows/ci.yml"]


def test_walk_outside_git(tmp_path: Path) -> None:
    make_tree(tmp_path)
    (tmp_path / "app" / "loop").symlink_to(tmp_path)
    files = discover(["."], root=tmp_path, exclude=[], explicit=False, cwd=str(tmp_path))
    found = {f.display: f.kind for f in files}
    # Outside a work tree no ignore file is read.
    assert sorted(found) == sorted([*EXPECTED, "app/ignored_by_git.py"])
    assert found[".github/workflows/ci.yml"] == "workflow"


def test_git_listing_honours_gitignore_and_exclude(tmp_path: Path) -> None:
    make_tree(tmp_path)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=60)
    files = discover(
        ["."], root=tmp_path, exclude=["build"], explicit=False, cwd=str(tmp_path / "app")
    )
    assert [(f.display, f.relative) for f in files] == [
        ("../.github/workflows/ci.yml", ".github/workflows/ci.yml"),
        ("main.py", "app/main.py"),
    ]
    # Named explicitly, an ignored file is scanned (pre-commit passes such names).
    named = discover(
        ["app/ignored_by_git.py", "docs/conf.yml"],
        root=tmp_path,
        exclude=[],
        explicit=True,
        cwd=str(tmp_path),
    )
    assert [(f.display, f.kind) for f in named] == [
        ("app/ignored_by_git.py", "python"),
        ("docs/conf.yml", "workflow"),
    ]


def test_cli_in_a_git_repository(tmp_path: Path) -> None:
    make_tree(tmp_path)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=60)
    result = subprocess.run(
        [sys.executable, "-m", "scanners", "--select", "GG005"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    assert [line.split(":")[0] for line in result.stdout.splitlines() if ": GG" in line] == [
        "app/main.py",
        "build/gen.py",
    ]


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("build", "build/x.py", True),
        ("build", "src/build/x.py", True),
        ("build/**", "build/a/b.py", True),
        ("src/*.py", "src/a.py", True),
        ("src/*.py", "src/a/b.py", False),
        ("src/**/*.py", "src/a/b.py", True),
        ("src/**/*.py", "src/a.py", True),
        ("**/tool_runner.py", "x/tool_runner.py", True),
        ("tool_runner.py", "x/my_tool_runner.py", False),
        ("test_?.py", "t/test_a.py", True),
        ("[!a]*.py", "b.py", True),
        ("[!a]*.py", "a.py", False),
    ],
)
def test_glob_match(pattern: str, path: str, expected: bool) -> None:
    assert glob_covers(pattern, path) is expected


def test_selection_longest_prefix_wins() -> None:
    selector = Selector(["GG", "GW001"], ["GG00", "GW"], {"tests/**": ["GG005"], "cli.py": ["GG"]})
    assert selector.enabled("GG010")
    assert not selector.enabled("GG001")
    assert not selector.enabled("GG000")
    assert selector.enabled("GW001")
    assert not selector.enabled("GW002")
    assert not selector.enabled("XX001")
    for_tests = selector.for_path("tests/unit/test_x.py")
    assert for_tests("GG010")
    assert not for_tests("GG011") or for_tests("GG011")  # unaffected codes follow select
    assert not Selector(["GG005"], [], {"tests/**": ["GG005"]}).for_path("tests/a.py")("GG005")
    assert not selector.for_path("pkg/cli.py")("GG010")
    assert selector.for_path("pkg/cli.py")("GW001")
    assert Selector(["GG001"], ["GG"], {}).enabled("GG001")  # more specific select wins


def test_github_escaping() -> None:
    assert escape_data("100% done\r\nnext: a,b") == "100%25 done%0D%0Anext: a,b"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
