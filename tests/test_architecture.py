"""The architecture contracts of pyproject.toml's [tool.importlinter], run as CI runs them:
the scanner never imports pytest, the gates never import each other, the pytest side sits
on the configuration and the report, and no package has an import cycle."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_gridgate.plugin import GATES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
# Plugin modules that are shared infrastructure rather than gates.
INFRASTRUCTURE = {"pytest_gridgate.config", "pytest_gridgate.report"}


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(cwd)},
    )


def _contracts() -> list[dict[str, object]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return data["tool"]["importlinter"]["contracts"]  # type: ignore[no-any-return]


def test_the_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(_contracts())} kept, 0 broken." in result.stdout


def test_every_gate_is_under_the_contracts() -> None:
    [independence] = [c for c in _contracts() if c["type"] == "independence"]
    [scanner] = [c for c in _contracts() if c["type"] == "forbidden"]
    gates = set(GATES) - INFRASTRUCTURE
    assert set(independence["modules"]) == gates  # type: ignore[arg-type]
    assert gates <= set(scanner["forbidden_modules"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("scanners/engine.py", "import pytest", "the scanner never imports pytest"),
        ("scanners/engine.py", "import pytest_gridgate.leaks", "the scanner never imports"),
        (
            "pytest_gridgate/leaks/base.py",
            "import pytest_gridgate.memory",
            "the gates never import",
        ),
        (
            "pytest_gridgate/settings/declare.py",
            "import pytest_gridgate.report",
            "the gates sit on",
        ),
        ("pytest_gridgate/sizes.py", "import pytest_gridgate.settings.memory", "no import cycles"),
    ],
    ids=["scanner-pytest", "scanner-gate", "gate-gate", "settings-report", "cycle"],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, broken: str
) -> None:
    for package in ("pytest_gridgate", "scanners"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout
    broken_lines = [x for x in result.stdout.splitlines() if x.endswith(" BROKEN")]
    assert len(broken_lines) >= 1, result.stdout
    assert any(x.startswith(broken) for x in result.stdout.splitlines() if "BROKEN" in x), (
        result.stdout
    )
