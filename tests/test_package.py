"""The built wheel, installed into a fresh virtual environment, runs README's first command.

Kept offline and fast: the wheel is built without build isolation, installed with
``--no-deps``, and the new environment finds the dependencies (pytest, xdist, ...) in this
test environment's site-packages through a ``.pth`` line. That line adds the directory to
``sys.path`` without processing the ``.pth`` files in it, so this checkout's editable
install stays invisible and the wheel's copy of gridgate is the one that runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str | Path, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the freshly built wheel installed."""
    tmp = tmp_path_factory.mktemp("package")
    env = _clean_environment()
    build = _run(
        sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", tmp / "dist",
        ROOT, cwd=tmp, env=env,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = (tmp / "dist").glob("pytest_gridgate-*.whl")

    venv = tmp / "venv"
    created = _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp, env=env)
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"
    install = _run(
        sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel,
        cwd=tmp, env=env,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    site_packages = _run(
        python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp, env=env
    ).stdout.strip()
    Path(site_packages, "test-environment.pth").write_text(sysconfig.get_paths()["purelib"])
    return venv


def _clean_environment() -> dict[str, str]:
    # xdist puts this checkout on PYTHONPATH in the outer workers; the wheel must not see it.
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def test_wheel_runs_gridgate_check_on_the_example(venv: Path, tmp_path: Path) -> None:
    env = _clean_environment()
    gridgate = venv / "bin" / "gridgate"
    version = _run(gridgate, "--version", cwd=tmp_path, env=env)
    assert version.returncode == 0
    assert version.stdout.startswith("gridgate 0.")

    where = _run(venv / "bin" / "python", "-c", "import pytest_gridgate as p; print(p.__file__)",
                 cwd=tmp_path, env=env)  # fmt: skip
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr

    # As in a clone: the environment and examples/ side by side, so gridgate's environment
    # is the project's (one elsewhere would be an isolated pipx-style install).
    examples = shutil.copytree(ROOT / "examples", venv.parent / "examples")
    check = _run(gridgate, "check", "examples/", cwd=venv.parent, env=env)
    # The example carries deliberate defects: the gate fails, on purpose, with exit 1.
    assert check.returncode == 1, check.stdout + check.stderr
    assert "FAIL  collection  1 collection error" in check.stdout
    assert "SystemExit(1) at import of tests/test_optional_backend.py" in check.stdout
    # examples/.gridgate/quarantine.toml: an entry past its date fails the quarantine gate.
    assert "FAIL  quarantine  1 expired" in check.stdout
    assert check.stdout.rstrip().splitlines()[-1].startswith("gridgate check: FAILED")
    assert examples.is_dir()


def test_installed_gates_are_not_assertion_rewritten(venv: Path, tmp_path: Path) -> None:
    # pytest rewrites the modules of every plugin distribution; gridgate opts out (it
    # asserts nothing for users, and the rewriting loader costs every run).
    (tmp_path / "test_loader.py").write_text(
        "import sys\n"
        "def test_loader():\n"
        "    for name in ('pytest_gridgate.leaks.detector', 'pytest_gridgate.report'):\n"
        "        loader = type(sys.modules[name].__loader__).__name__\n"
        "        assert loader == 'SourceFileLoader', (name, loader)\n"
    )
    (tmp_path / "pyproject.toml").write_text('[tool.gridgate.leaks]\naction = "warn"\n')
    run = _run(venv / "bin" / "python", "-m", "pytest", "-p", "no:cacheprovider", cwd=tmp_path,
               env=_clean_environment())  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


def test_the_wheel_ships_the_watcher_script_the_supervisor_runs(venv: Path, tmp_path: Path) -> None:
    # The supervisor's loop is package data (pytest_gridgate/timeouts/watcher.sh): a run
    # from the installed wheel starts it from there, and finds it in its argv.
    (tmp_path / "test_watcher.py").write_text(
        "import os\n"
        "def test_watcher():\n"
        "    found = []\n"
        "    for pid in filter(str.isdigit, os.listdir('/proc')):\n"
        "        try:\n"
        "            argv = open(f'/proc/{pid}/cmdline', 'rb').read().split(b'\\0')\n"
        "        except OSError:\n"
        "            continue\n"
        "        if argv[0] == b'gridgate-watchdog' and argv[5] == str(os.getpid()).encode():\n"
        "            found.append(argv[3].decode())\n"
        "    [script] = found\n"
        "    print('WATCHER', script)\n"
    )
    (tmp_path / "pyproject.toml").write_text("[tool.gridgate.timeouts]\nkill_after = 5\n")
    run = _run(venv / "bin" / "python", "-m", "pytest", "-p", "no:cacheprovider", "-s",
               cwd=tmp_path, env=_clean_environment())  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    [script] = re.findall(r"WATCHER (\S+)", run.stdout)
    assert script.startswith(str(venv)), script  # the wheel's copy, not this checkout's
    assert script.endswith("pytest_gridgate/timeouts/watcher.sh")
    assert Path(script).read_text().startswith("# gridgate's timeouts supervisor")
