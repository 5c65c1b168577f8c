"""Command-line conventions of ``gridgate scan`` (issue 13 item 11, the scan part).

Compared with ruff and pytest: help on stdout with exit 0 when asked, the usage on stderr
with exit 2 when the command line is wrong; ``-q``/``-v``; colour on a terminal, off with
``NO_COLOR``, on with ``FORCE_COLOR``.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
ESC = "\x1b["


def scan(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    return subprocess.run(
        [str(BIN / "gridgate"), "scan", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**environment, **(env or {})},
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "mod.py").write_text("import os\n\nos.system('x')\n")
    (tmp_path / "clean.py").write_text("x = 1\n")
    return tmp_path


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_when_asked_goes_to_stdout(project: Path, flag: str) -> None:
    result = scan(project, flag)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("usage: gridgate scan ")
    for option in ("--force-exclude", "--pre-commit", "--quiet", "--verbose", "--select"):
        assert option in result.stdout


def test_a_wrong_command_line_gets_the_usage_on_stderr(project: Path) -> None:
    result = scan(project, "--no-such-option")
    assert (result.returncode, result.stdout) == (2, "")
    message, *usage = result.stderr.splitlines()
    assert message == "gridgate scan: unrecognized arguments: --no-such-option (see --help)"
    assert usage[0].startswith("usage: gridgate scan ")


def test_quiet_and_verbose(project: Path) -> None:
    normal = scan(project)
    assert normal.returncode == 1
    finding = "mod.py:3:1: GG005 "
    assert normal.stdout.startswith(finding)
    assert "Found 1 finding (2 files scanned)." in normal.stdout

    quiet = scan(project, "-q")
    assert quiet.returncode == 1
    assert quiet.stdout.startswith(finding)
    assert quiet.stdout.count("\n") == 1  # the finding, no summary

    silent = scan(project, "-qq")
    assert (silent.returncode, silent.stdout, silent.stderr) == (1, "", "")
    assert scan(project, "-qq", "clean.py").returncode == 0

    verbose = scan(project, "-v", "--no-cache")
    assert verbose.returncode == 1
    assert verbose.stdout == normal.stdout  # stdout is the report, whatever -v says
    lines = verbose.stderr.splitlines()
    assert "gridgate scan: configuration: none (defaults)" in lines
    assert any(line.startswith("gridgate scan: rules: GG000 GG001 ") for line in lines)
    assert lines[-1] == "gridgate scan: 2 file(s), 0 from the cache, 2 checked"
    assert "gridgate scan: file: mod.py" in scan(project, "-vv").stderr.splitlines()


def test_no_colour_in_a_pipe_colour_on_request(project: Path) -> None:
    assert ESC not in scan(project).stdout
    forced = scan(project, env={"FORCE_COLOR": "1"})
    assert f"{ESC}1mmod.py{ESC}0m:3:1: {ESC}1m{ESC}31mGG005{ESC}0m " in forced.stdout
    # NO_COLOR wins, as in pytest; an empty value does not count (no-color.org).
    assert ESC not in scan(project, env={"FORCE_COLOR": "1", "NO_COLOR": "1"}).stdout
    assert ESC in scan(project, env={"FORCE_COLOR": "1", "NO_COLOR": ""}).stdout
    # Machine formats never get colour.
    assert ESC not in scan(project, "--format", "json", env={"FORCE_COLOR": "1"}).stdout


def _on_a_terminal(cwd: Path, env: dict[str, str]) -> str:
    """Run the scan with stdout on a pseudo-terminal and return what it printed."""
    controller, terminal = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    environment.update(env, TERM="xterm")
    with subprocess.Popen(
        [str(BIN / "gridgate"), "scan"],
        cwd=cwd,
        stdout=terminal,
        stderr=subprocess.DEVNULL,
        env=environment,
    ) as process:
        os.close(terminal)
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait(timeout=240)
    os.close(controller)
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_unless_no_color(project: Path) -> None:
    assert f"{ESC}31mGG005" in _on_a_terminal(project, {})
    assert ESC not in _on_a_terminal(project, {"NO_COLOR": "1"})
