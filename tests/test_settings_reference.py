"""Settings declared per gate: did-you-mean errors, the generated reference and JSON Schema,
and the scanner reading its settings without pytest."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from pytest_gridgate.settings import ConfigError, load_config
from pytest_gridgate.settings.reference import configuration_tables, json_schema

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"


def _run_reference(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_gridgate.settings.reference", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_the_committed_reference_and_schema_are_up_to_date() -> None:
    result = _run_reference("--check")
    assert result.returncode == 0, result.stderr


def test_check_names_a_stale_file_and_writes_nothing(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(DOCS / "configuration.md", docs)
    schema = docs / "gridgate.schema.json"
    schema.write_text("{}\n")
    result = _run_reference("--check", "--docs", str(docs))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{schema} is stale: run python -m pytest_gridgate.settings.reference"
    ]
    assert schema.read_text() == "{}\n"
    assert _run_reference("--docs", str(docs)).returncode == 0
    assert _run_reference("--check", "--docs", str(docs)).returncode == 0


def test_every_declared_key_has_a_row_with_its_default() -> None:
    keys = configuration_tables()["keys"]
    assert "| `leaks.ignore.fds` |" in keys
    assert '| `scan.select` | list of rule codes or prefixes | `["GG", "GW"]` |' in keys
    assert "| `timeouts.default` | seconds ([range](#number-ranges)) | `60` |" in keys


@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        ("[tool.gridgate.timeouts]\ndefalt = 3\n", "timeouts.defalt", "did you mean 'default'?"),
        ("[tool.gridgate.leaks.ignore]\nfd = []\n", "leaks.ignore.fd", "did you mean 'fds'?"),
        ("[tool.gridgate]\nleak = {}\n", "leak", "did you mean 'leaks'?"),
        ("[tool.gridgate.memory]\nzzz = 1\n", "memory.zzz", "(known keys: action, limit,"),
    ],
)
def test_unknown_keys_suggest_the_closest_known_one(
    tmp_path: Path, text: str, key: str, hint: str
) -> None:
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, environ={}, upwards=False)
    assert caught.value.key == key
    assert caught.value.problem.startswith("unknown key")
    assert str(caught.value).startswith(f"{tmp_path / 'pyproject.toml'}: {key}: unknown key")
    assert hint in str(caught.value)


def test_a_typo_is_exit_4_with_the_suggestion(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.gridgate.leaks]\nacton = 'warn'\n")
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    line = "ERROR: gridgate: pyproject.toml: leaks.acton: unknown key; did you mean 'action'?"
    result.stderr.fnmatch_lines([line + " (known keys: *)"])


def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads((DOCS / "gridgate.schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _table(text: str) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(textwrap.dedent(text))["tool"]["gridgate"]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib")
def test_the_schema_accepts_what_the_loader_accepts(tmp_path: Path) -> None:
    validator = _validator()
    for pyproject in (ROOT / "pyproject.toml", ROOT / "examples" / "pyproject.toml"):
        load_config(file=pyproject, environ={})
        validator.validate(_table(pyproject.read_text()))
    full = """
        [tool.gridgate]
        profile = "ci"
        [tool.gridgate.env]
        PORT = 5432
        [tool.gridgate.timeouts]
        default = 0
        markers = { slow = 300 }
        [tool.gridgate.leaks]
        checks = ["threads", "fds"]
        ignore = { fds = ["pipe:*"] }
        [tool.gridgate.memory]
        limit = "2GB"
        retained = 0
        [[tool.gridgate.scan.forbidden_calls]]
        call = "plugin.run"
        [tool.gridgate.profiles.ci]
        leaks = { action = "warn" }
    """
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent(full))
    load_config(tmp_path, environ={}, upwards=False)
    validator.validate(_table(full))


@pytest.mark.parametrize(
    "table",
    [
        {"timeouts": {"defalt": 3}},
        {"timeouts": {"default": 0.0001}},
        {"leaks": {"action": "loud"}},
        {"leaks": {"checks": ["thread"]}},
        {"memory": {"limit": "lots"}},
        {"flaky": {"rerun_categories": ["luck"]}},
        {"flaky": {"max_rate": 1.5}},
        {"scan": {"forbidden_calls": [{"allow_in": []}]}},
        {"profiles": {"ci": {"profile": "x"}}},
        {"env": {"A=B": "1"}},
    ],
)
def test_the_schema_refuses_what_the_loader_refuses(tmp_path: Path, table: dict[str, Any]) -> None:
    (tmp_path / "gridgate.yaml").write_text(yaml.safe_dump(table))
    with pytest.raises(ConfigError):
        load_config(tmp_path, environ={}, upwards=False)
    assert not _validator().is_valid(table)


def test_schema_has_every_gate_table() -> None:
    assert set(json_schema()["properties"]) == {
        "profile",
        "env",
        "env_force",
        "collection",
        "timeouts",
        "leaks",
        "memory",
        "failures",
        "flaky",
        "quarantine",
        "scan",
        "shard",
        "history",
        "profiles",
    }


def test_the_scanner_reads_its_settings_without_importing_pytest(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.gridgate.scan]\nlazy_imports = ['chromadb']\n[tool.gridgate.memory]\nlimit = '2GB'\n"
    )
    code = (
        "import sys, scanners.command\n"
        "from pytest_gridgate.settings import load_config\n"
        "config = load_config()\n"
        "print(config.scan.lazy_imports, int(config.memory.limit))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pytest', '_pytest')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["('chromadb',) 2000000000", "[]"]
