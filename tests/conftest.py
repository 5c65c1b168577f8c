"""Shared test setup.

The suite itself runs under xdist and maybe inside GitHub Actions; none of that may leak
into the pytest runs that the tests start (pytester, subprocesses), or gridgate inside them
would believe it is an xdist worker or write step summaries.

Every JSON gate report a test makes (``--gridgate-report``, ``gridgate merge``, the
supervisor's) is checked against ``docs/report.schema.json`` after the test.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_SCRUBBED_PREFIXES = ("PYTEST_XDIST_", "GRIDGATE_", "_GRIDGATE_", "GITHUB_")
_SCRUBBED_NAMES = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD", "CI")
REPORT_SCHEMA = Path(__file__).parent.parent / "docs" / "report.schema.json"
# Directories a test's reports are not in (and that can be large).
_PRUNED = frozenset({".git", ".venv", "venv", "__pycache__", "node_modules", ".nox"})


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(_SCRUBBED_PREFIXES) or name in _SCRUBBED_NAMES:
            monkeypatch.delenv(name)


_VALIDATOR: list[Any] = []


def report_validator() -> Any:
    """The JSON Schema validator of the gate report (one per test process)."""
    if not _VALIDATOR:
        import jsonschema

        schema = json.loads(REPORT_SCHEMA.read_text(encoding="utf-8"))
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        _VALIDATOR.append(cls(schema))
    return _VALIDATOR[0]


def _test_directories(item: pytest.Item) -> list[Path]:
    """The temporary directories the test's fixtures made (pytester's, tmp_path, ...)."""
    found = []
    for value in getattr(item, "funcargs", {}).values():
        path = value.path if isinstance(value, pytest.Pytester) else value
        if isinstance(path, Path) and path.is_dir() and path.is_absolute():
            found.append(path)
    return found


def _reports_written_since(directory: Path, since: float) -> Iterator[tuple[Path, Any]]:
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if d not in _PRUNED]
        for name in files:
            path = Path(root, name)
            if not name.endswith(".json"):
                continue
            try:
                if path.stat().st_mtime < since:
                    continue
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # a torn or partial file is the test's own business
            if isinstance(data, dict) and data.get("version") == 1 and "gates" in data:
                yield path, data


@pytest.fixture(autouse=True)
def _gate_reports_follow_the_schema(request: pytest.FixtureRequest) -> Iterator[None]:
    since = time.time() - 1  # file systems with coarse timestamps
    yield
    directories = _test_directories(request.node)
    if not directories:
        return
    validator = report_validator()
    for directory in dict.fromkeys(directories):
        if str(directory).startswith(str(Path(__file__).parent.parent)):
            continue  # the repository itself (rootdir fixtures), not a test's own files
        for path, data in _reports_written_since(directory, since):
            errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
            if errors:
                where = "/".join(map(str, errors[0].absolute_path)) or "(top)"
                pytest.fail(
                    f"{path}: the gate report does not follow docs/report.schema.json: "
                    f"{where}: {errors[0].message}",
                    pytrace=False,
                )
