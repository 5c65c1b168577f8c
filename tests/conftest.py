"""Shared test setup.

The suite itself runs under xdist and under its own gate, maybe inside GitHub Actions; none
of that may leak into the pytest runs that the tests start (pytester, subprocesses), or
gridgate inside them would believe it is an xdist worker, take the outer run's settings or
write step summaries.

``gated`` is the one way to run a gated pytest: a real pytest subprocess in pytester's
directory with the JSON gate report, checked for what every report must hold. Every JSON
gate report a test makes (``--gridgate-report``, ``gridgate merge``, the supervisor's) is
also checked against ``docs/report.schema.json`` after the test.
"""

from __future__ import annotations

import json
import os
import shutil
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

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


# Keys of a ``leaks`` entry (design.md, docs/leaks.md documents no extra ones) and of a
# ``memory`` entry (docs/memory.md: at least these).
LEAK_KEYS = {"nodeid", "kind", "detail", "action", "cleaned", "fixture", "origin"}
MEMORY_KEYS = {"nodeid", "kind", "bytes", "limit"}
MEMORY_KINDS = ("peak", "retained", "process")
#: Modules that inner runs import or use as their conftest (``Gated.inner``).
INNER = Path(__file__).parent / "inner"


class GatedRun(NamedTuple):
    """What a gated run gave: pytest's result and the parsed JSON gate report."""

    result: pytest.RunResult
    report: dict[str, Any]


def check_report(report: dict[str, Any], ret: int | pytest.ExitCode, output: str) -> None:
    """What every gate report must hold, however the run ended."""
    if ret < 0:
        # Killed by a signal (the watcher's hard kill): the report, written before the kill,
        # says the run failed.
        assert (report["outcome"], report["exit_code"] != 0) == ("failed", True), output
    else:
        # The report's verdict is the process's.
        assert (report["exit_code"], report["outcome"]) == (
            ret,
            "passed" if ret == 0 else "failed",
        ), output
    for entry in report.get("leaks", []):
        assert set(entry) == LEAK_KEYS, entry
    for entry in report.get("memory", []):
        assert set(entry) >= MEMORY_KEYS, entry
        assert entry["kind"] in MEMORY_KINDS, entry


class Gated:
    """Runs pytest with gridgate on the project in ``pytester.path``."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester

    def project(self, pyproject: str = "", **modules: str) -> None:
        """Write ``pyproject.toml`` (dedented) and test modules (dedented, by name)."""
        self.pytester.makepyprojecttoml(textwrap.dedent(pyproject))
        if modules:
            self.pytester.makepyfile(
                **{name: textwrap.dedent(body) for name, body in modules.items()}
            )

    def inner(self, name: str, as_name: str = "") -> None:
        """Copy ``tests/inner/NAME`` into the project (as ``as_name``, else as ``name``)."""
        shutil.copyfile(INNER / name, self.pytester.path / (as_name or name))

    def run(
        self,
        *args: str,
        report: str = "r.json",
        timeout: float = 240,
        clean: bool = False,
    ) -> GatedRun:
        """One inner run in a subprocess (no cache provider), with the report ``report``.

        A run that hangs is killed after ``timeout`` seconds, before the outer run's own
        per-test timeout. The gate never ends in an INTERNALERROR; with ``clean`` nothing
        prints a traceback.
        """
        result = self.pytester.runpytest_subprocess(
            *args, "-p", "no:cacheprovider", "--gridgate-report", report, timeout=timeout
        )
        path = self.pytester.path / report
        output = result.stdout.str() + result.stderr.str()
        assert "INTERNALERROR" not in output, output
        if clean:
            assert "Traceback" not in output, output
        assert path.exists(), output
        data: dict[str, Any] = json.loads(path.read_text())
        check_report(data, result.ret, output)
        return GatedRun(result, data)


@pytest.fixture
def gated(pytester: pytest.Pytester) -> Gated:
    return Gated(pytester)
