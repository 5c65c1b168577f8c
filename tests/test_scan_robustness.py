"""The scanner survives every kind of bad file: each is scanned or a GG000, nothing is lost.

Real ``python -m scanners`` processes on real files; a third-party rule installed through a
``.dist-info`` on ``PYTHONPATH`` kills its worker with SIGSEGV, which is what libcst's native
parser does on very deep nesting.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

CRASH_RULE = '''
import os
import re
import signal
import time

from scanners.rules.rule import Rule


class Crash(Rule):
    """Kills the process that checks a file containing the marker (a stand-in for a
    native parser crash)."""

    code = "XX001"
    name = "crash"

    def tokens(self):
        return re.compile(rb"CRASH_HERE|HANG_HERE")

    def is_candidate(self, facts):
        with open(self.path) as handle:
            if "HANG_HERE" in handle.read():
                time.sleep(120)
        os.kill(os.getpid(), signal.SIGSEGV)
        return False
'''

# One GG005 finding per file, so that every file that was really scanned shows.
SHELL_CALL = "import os\n\nos.system('ls')\n"


def run_scan(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scanners", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=240,
    )


def install_crash_rule(directory: Path) -> dict[str, str]:
    directory.mkdir()
    (directory / "gridgate_crash_rule.py").write_text(CRASH_RULE)
    info = directory / "gridgate_crash-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gridgate-crash\nVersion: 0\n")
    (info / "entry_points.txt").write_text(
        "[gridgate.rules]\nXX001 = gridgate_crash_rule:Crash\nXX002 = gridgate_no_such_module:X\n"
    )
    return {"PYTHONPATH": str(directory)}


def findings_by_path(stdout: str) -> dict[str, list[dict[str, Any]]]:
    report = json.loads(stdout)
    by_path: dict[str, list[dict[str, Any]]] = {}
    for finding in report["findings"]:
        by_path.setdefault(finding["path"], []).append(finding)
    return by_path


# The 5 MB file below costs the scanner's worker about 1 GB to parse with ``ast`` (some 190
# bytes a byte of source), and its syntax error on the last line twice that: CPython parses a
# failing module a second time for its error message. Measured 2.2 GB; the suite's own gate
# allows this one test 3 GB (docs/architecture.md, "The suite under its own gate").
@pytest.mark.gridgate_memory("3GB")
def test_bad_files_are_findings_and_every_other_file_is_scanned(tmp_path: Path) -> None:
    project = tmp_path / "project"
    src = project / "src"
    src.mkdir(parents=True)
    for i in range(6):
        (src / f"good_{i}.py").write_text(SHELL_CALL)
    (src / "syntax_error.py").write_text("def broken(:\n    pass\n")
    (src / "latin1.py").write_bytes(
        b"# -*- coding: latin-1 -*-\nimport os\n\nname = '\xe9t\xe9'\nos.system(name)\n"
    )
    (src / "random_bytes.py").write_bytes(random.Random(3).randbytes(4096))
    (src / "empty.py").write_bytes(b"")
    chunk = "".join(f"def function_{i}(a, b):\n    return a + b * {i}\n\n" for i in range(2000))
    # 5 MB the rules' prefilters skip, then a syntax error on the last line: the GG000 line
    # number proves the whole file was read and parsed.
    big = chunk * (5_000_000 // len(chunk) + 1)
    (src / "big.py").write_text(big + "def broken(:\n")
    depth = 3000
    (src / "deep.py").write_text("x = " + "(" * depth + "1" + ")" * depth + "\n")
    (src / "crash.py").write_text("CRASH_HERE = 1\n" + SHELL_CALL)
    (src / "loop_a.py").symlink_to(src / "loop_b.py")
    (src / "loop_b.py").symlink_to(src / "loop_a.py")
    (src / "dangling.py").symlink_to(src / "missing" / "nowhere.py")
    (src / "cycle").symlink_to(src)  # a directory loop: never followed
    os.mkfifo(src / "fifo.py")  # would block a plain open() forever
    unreadable = src / "unreadable.py"
    unreadable.write_text(SHELL_CALL)
    unreadable.chmod(0)
    env = install_crash_rule(tmp_path / "plugins")

    result = run_scan(
        project, "src", "--format", "json", "--select", "GG,XX", "--jobs", "2", env=env
    )

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    # A plugin that does not load is a warning, not a lost scan.
    assert result.stderr.startswith("gridgate scan: warning: gridgate.rules entry point 'XX002'")
    found = findings_by_path(result.stdout)
    rules = {path: sorted(f["rule"] for f in items) for path, items in found.items()}
    for i in range(6):
        assert rules[f"src/good_{i}.py"] == ["GG005"]
    assert rules["src/latin1.py"] == ["GG005"]
    assert found["src/latin1.py"][0]["line"] == 5
    assert rules["src/big.py"] == ["GG000"]
    assert found["src/big.py"][0]["line"] == big.count("\n") + 1
    assert "src/empty.py" not in rules
    for bad in ("syntax_error", "random_bytes", "deep", "loop_a", "loop_b", "dangling", "fifo"):
        assert rules[f"src/{bad}.py"] == ["GG000"], bad
    crash = found["src/crash.py"]
    assert [f["rule"] for f in crash] == ["GG000"]
    assert "crashed" in crash[0]["message"]
    assert "SIGSEGV" in crash[0]["message"]
    assert "cannot read" in found["src/dangling.py"][0]["message"]
    if os.geteuid() != 0:  # root reads a mode-000 file anyway
        assert rules["src/unreadable.py"] == ["GG000"]
    assert not any(path.startswith("src/cycle/") for path in found)
    assert json.loads(result.stdout)["files_scanned"] == 18


def test_a_crashing_or_hanging_file_costs_only_itself(tmp_path: Path) -> None:
    """With one worker, the rest of a batch after a crash or a hang is rescanned."""
    project = tmp_path / "project"
    project.mkdir()
    markers = {3: "CRASH_HERE = 1\n", 7: "CRASH_HERE = 1\n", 9: "HANG_HERE = 1\n"}
    for i in range(12):
        (project / f"m{i:02}.py").write_text(markers.get(i, "") + SHELL_CALL)
    env = install_crash_rule(tmp_path / "plugins")
    env["_GRIDGATE_SCAN_FILE_TIMEOUT"] = "2"

    result = run_scan(project, ".", "--select", "GG005,XX", "--jobs", "1", "--no-cache", env=env)

    assert result.returncode == 1
    lines = result.stdout.splitlines()
    expected = {3: "GG000 the parser crashed", 7: "GG000 the parser crashed"}
    expected[9] = "GG000 scanning this file took longer than 2 s"
    for i in range(12):
        wanted = expected.get(i, "GG005")
        assert any(line.startswith(f"m{i:02}.py:") and wanted in line for line in lines), i
    assert "Traceback" not in result.stderr
    assert not (project / ".gridgate_cache").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["--format", "xml"],
        ["--jobs", "0"],
        ["no/such/path"],
        ["--update-baseline"],
        ["--config", "missing.toml"],
    ],
)
def test_usage_errors_exit_2_with_one_line(tmp_path: Path, argv: list[str]) -> None:
    result = run_scan(tmp_path, *argv)
    assert result.returncode == 2
    assert result.stderr.startswith("gridgate scan: ")
    assert result.stdout == ""
    # What is wrong is one line; a command line argparse rejects is followed by the usage.
    _, *rest = result.stderr.splitlines()
    if argv[0].startswith("--format") or argv[0] == "--jobs":
        assert rest[0].startswith("usage: gridgate scan ")
    else:
        assert rest == []


def test_a_config_error_names_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [tool.gridgate.scan]
            selct = ["GG"]
            """
        )
    )
    (tmp_path / "sub").mkdir()

    result = run_scan(tmp_path / "sub")  # found from the current directory upwards

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("gridgate scan: ")
    assert "pyproject.toml" in result.stderr
    assert "scan.selct" in result.stderr
