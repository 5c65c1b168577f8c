"""docs/rules.md is generated from the rules and must be up to date."""

from __future__ import annotations

from pathlib import Path

from scanners.docs import DOCS_PATH, main, render
from scanners.rules.registry import BUILTIN_RULES


def test_rules_md_is_up_to_date() -> None:
    assert DOCS_PATH.read_text(encoding="utf-8") == render(), (
        "docs/rules.md is stale: run `python -m scanners.docs`"
    )


def test_every_rule_and_example_is_in_the_docs() -> None:
    text = render()
    for rule in BUILTIN_RULES:
        assert f"## {rule.code} {rule.name}" in text
        assert "``" not in text.replace("```", "")  # RST literals were converted


def test_check_mode_detects_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "rules.md"
    stale.write_text("old\n", encoding="utf-8")
    assert main(["--check", "--output", str(stale)]) == 1
    assert main(["--output", str(stale)]) == 0
    assert main(["--check", "--output", str(stale)]) == 0
