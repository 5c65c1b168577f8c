"""``--format sarif`` for GitHub code scanning (issue 13 item 8).

The output is validated against the SARIF 2.1.0 JSON Schema (``tests/data``, see its
NOTICE), and its locations must map to files however the scan was started: relative to
the repository root with ``uriBaseId: %SRCROOT%``, never ``../`` paths that GitHub cannot
place.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())


def sarif(cwd: Path, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "scanners", "--format", "sarif", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def schema_errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft4Validator(SCHEMA)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def test_the_schema_rejects_what_it_should() -> None:
    """The validation can fail: a result without a message is not SARIF."""
    broken = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{}]}]}
    assert schema_errors(broken)


def test_sarif_is_valid_and_relative_to_the_repository_root(tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    (repository / "src" / "pkg").mkdir(parents=True)
    (repository / "src" / "pkg" / "__init__.py").write_text("")
    (repository / "src" / "pkg" / "loops.py").write_text(
        "import asyncio\n\n\nasync def handler():\n    return asyncio.get_event_loop()\n"
    )
    (repository / "src" / "pkg" / "we ird,name.py").write_text("import os\n\nos.system('x')\n")
    (repository / "tools").mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repository, check=True, timeout=60)

    # Started from a subdirectory, naming files above it: the text report says ../src/...
    document = sarif(repository / "tools", "../src")
    assert schema_errors(document) == []
    (run,) = document["runs"]
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": repository.as_uri() + "/"}}
    locations = {
        result["ruleId"]: result["locations"][0]["physicalLocation"]["artifactLocation"]
        for result in run["results"]
    }
    assert locations == {
        "GG001": {"uri": "src/pkg/loops.py", "uriBaseId": "%SRCROOT%"},
        "GG005": {"uri": "src/pkg/we%20ird%2Cname.py", "uriBaseId": "%SRCROOT%"},
    }
    (fixable,) = [result for result in run["results"] if "fixes" in result]
    (change,) = fixable["fixes"][0]["artifactChanges"]
    assert change["artifactLocation"] == {"uri": "src/pkg/loops.py", "uriBaseId": "%SRCROOT%"}

    # The same findings from the root give the same URIs.
    from_root = sarif(repository, "src")
    assert [r["locations"] for r in from_root["runs"][0]["results"]] == [
        r["locations"] for r in run["results"]
    ]


def test_sarif_links_every_rule_to_its_documentation(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text("import os\n\nos.system('x')\n")
    document = sarif(tmp_path)
    assert schema_errors(document) == []
    driver = document["runs"][0]["tool"]["driver"]
    assert driver["informationUri"].startswith("https://")
    headings = set(
        re.findall(r"^## (\w+) ([\w-]+)$", (ROOT / "docs" / "rules.md").read_text(), re.M)
    )
    for rule in driver["rules"]:
        # The anchor GitHub gives the rule's heading `## GG001 get-event-loop` in rules.md.
        assert (rule["id"], rule["name"]) in headings
        assert rule["helpUri"].startswith("https://")
        assert rule["helpUri"].endswith(f"#{rule['id'].lower()}-{rule['name']}")
    assert {rule["id"] for rule in driver["rules"]} >= {"GG000", "GG004", "GG012", "GW001"}
