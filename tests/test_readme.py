"""The README a newcomer reads first: defaults that are the code's, sections that exist,
pictures drawn from a real run by the committed script."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_gridgate.settings import GridgateConfig

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
FIRST_SCREEN = "\n".join(README.splitlines()[:50])
PICTURES = ("terminal-gate-section.svg", "step-summary.svg", "pr-annotations.svg")


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ", ".join(map(str, value))
    return str(value)


def test_first_screen_shows_every_gate_default() -> None:
    config = GridgateConfig()
    defaults = {
        "collection.min_tests": config.collection.min_tests,
        "timeouts.default": config.timeouts.default,
        "timeouts.kill_after": config.timeouts.kill_after,
        "timeouts.session": config.timeouts.session,
        "timeouts.collection": config.timeouts.collection,
        "leaks.action": config.leaks.action,
        "leaks.checks": config.leaks.checks,
        "leaks.grace": config.leaks.grace,
        "leaks.kill": config.leaks.kill,
        "memory.limit": config.memory.limit,
        "memory.action": config.memory.action,
        "memory.process_limit": config.memory.process_limit,
        "memory.retained": config.memory.retained,
        "flaky.reruns": config.flaky.reruns,
        "flaky.max_rate": config.flaky.max_rate,
        "quarantine.file": config.quarantine.file,
        "history.max_vanished": config.history.max_vanished,
        "scan.select": config.scan.select,
    }
    rows = dict(re.findall(r"^\|.*\| `([a-z_.]+)` = (.+?) \|$", FIRST_SCREEN, re.MULTILINE))
    shown = {key: value.replace("`", "").removesuffix(" s") for key, value in rows.items()}
    assert shown == {key: _shown(value) for key, value in defaults.items()}


def test_newcomer_sections() -> None:
    sections = re.findall(r"^## (.+)$", README, re.MULTILINE)
    assert "Migrating from pytest-timeout / pytest-env" in sections
    migrating = README.split("## Migrating from pytest-timeout / pytest-env", 1)[1]
    migrating = migrating.split("\n## ", 1)[0]
    for words in ("[tool.gridgate.env]", "[tool.gridgate.env_force]", "D:", "timeouts"):
        assert words in migrating
    install = README.split("## Install", 1)[1].split("\n## ", 1)[0]
    assert 'pip install "git+https://' in install  # from source, not only the index
    assert "--python PATH" in install  # pipx-style installs
    workflows = README.split("## Workflows for GitHub Actions", 1)[1].split("\n## ", 1)[0]
    assert "private repository it needs GitHub" in " ".join(workflows.split())
    assert "--gridgate-spec" in workflows


def test_pictures_are_committed_and_referenced() -> None:
    for name in PICTURES:
        assert f"](docs/images/{name})" in README
        ET.parse(ROOT / "docs" / "images" / name)  # well-formed SVG


@pytest.mark.skipif(sys.platform != "linux", reason="the example's hangs need Linux")
def test_picture_script_draws_from_a_real_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "images" / "generate.py"), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    texts = {}
    for name in PICTURES:
        tree = ET.parse(tmp_path / name)
        texts[name] = " ".join("".join(e.itertext()) for e in tree.iter() if e.text or len(e))
    assert "FAIL collection" in texts["terminal-gate-section.svg"]
    assert "gridgate: failed (exit code 2)" in texts["terminal-gate-section.svg"]
    assert "| tests |" not in texts["step-summary.svg"]  # drawn as a table, not Markdown
    assert "1 collection error" in texts["step-summary.svg"]
    assert "GG004" in texts["pr-annotations.svg"]
    assert "GW001" in texts["pr-annotations.svg"]
    assert str(ROOT) not in "".join(texts.values())  # no paths of the machine that drew them
