"""``gridgate check [PATH] [-- PYTEST_ARGS...]``: the whole gate on a project, locally.

Runs, in the project directory, the scanner (Python sources and workflow YAML, with the
interpreter gridgate runs on) and pytest with the gridgate plugin (with the *project's*
interpreter, see :func:`project_python`), shows their output as it comes, then prints one
verdict table. pytest runs with ``--continue-on-collection-errors`` so that every gate
gets a verdict in one go; the collection gate fails the run all the same.

Exit codes: 0 every gate that ran passed; 1 a gate failed; 2 a gate could not run
(bad PATH or arguments, no usable interpreter, an invalid configuration, pytest crashed
without a report).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DESCRIPTION = """\
Run the whole gate on the project at PATH: the scanner (sources and workflows),
then pytest with gridgate, and print one verdict. Arguments after -- go to pytest."""

EPILOG = """\
which Python runs pytest (the first that applies):
  --python PATH        an interpreter, or a virtual environment's directory
  gridgate's own       if it is a virtual environment inside PATH or its git repository
  $VIRTUAL_ENV         the active virtual environment
  $CONDA_PREFIX        the active conda environment
  PATH/.venv           the project's own virtual environment
  gridgate's own       if it is not a virtual environment, or one in a directory above PATH
Installed on its own (pipx, uv tool), gridgate cannot import your project: it then
stops at once and says so. The interpreter needs pytest-gridgate installed.

exit codes: 0 all gates passed, 1 a gate failed, 2 a gate could not run"""

# Generous ceilings: the plugin's own session timeout normally ends a run long before.
SCAN_TIMEOUT = 900
PYTEST_TIMEOUT = 6 * 3600
PROBE_TIMEOUT = 120
MAX_FINDINGS = 50
_FINDING_LINE = re.compile(r"^\S.*:\d+:\d+: ")


class UsageError(Exception):
    """Bad arguments or no interpreter to run pytest with: one line, exit 2."""


@dataclass(frozen=True)
class Verdict:
    gate: str
    status: str  # PASS, FAIL, ERROR
    summary: str


@dataclass(frozen=True)
class Interpreter:
    path: Path
    why: str  # how it was chosen, shown in the pytest heading


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gridgate check",
        usage="gridgate check [-h] [-q | -v] [--config FILE] [--python PATH] "
        "[PATH] [-- PYTEST_ARGS...]",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("path", nargs="?", default=".", metavar="PATH", help="the project (default: .)")
    add(
        "--config",
        metavar="FILE",
        help="the project's pyproject.toml to use instead of PATH's (scanner and pytest)",
    )
    add(
        "--python",
        metavar="PATH",
        help="interpreter (or virtual environment) to run pytest with; see below",
    )
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=0,
        help="list no scan findings, pass -q to pytest (repeatable)",
    )
    verbosity.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help=f"list every scan finding (not only {MAX_FINDINGS}), pass -v to pytest",
    )
    return parser


def main(argv: list[str]) -> int:
    args, pytest_args = _split(argv)
    ns = _parser().parse_args(args)  # exits 2 with usage on stderr, 0 on --help
    project = Path(ns.path)
    try:
        if not project.is_dir():
            raise UsageError(f"{project}: not a directory")
        config = _config_file(ns.config)
        python = project_python(project, ns.python, os.environ)
        _probe(python)
    except UsageError as exc:
        print(f"gridgate check: error: {exc}", file=sys.stderr)
        return 2

    verbosity = ns.verbose - ns.quiet
    scan_verdict, scan_code = scan(project, config, verbosity)
    pytest_verdicts, pytest_code = run_pytest(project, python, config, verbosity, pytest_args)
    verdicts = [scan_verdict, *pytest_verdicts]
    if any(v.status == "ERROR" for v in verdicts):
        code = 2
    else:
        code = 1 if any(v.status == "FAIL" for v in verdicts) else 0
    print_table(project, verdicts, code, scan_code, pytest_code)
    return code


def _split(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    return argv, []


def _config_file(value: str | None) -> Path | None:
    if value is None:
        return None
    path = Path(value).resolve()
    if not path.is_file():
        raise UsageError(f"--config {value}: no such file")
    if path.name != "pyproject.toml":
        # pytest reads a gridgate.yaml only from its rootdir: point at the project instead.
        raise UsageError(
            f"--config {value}: expected a pyproject.toml (a gridgate.yaml is "
            "read from the project directory: pass that directory as PATH)"
        )
    return path


def _venv_python(directory: Path) -> Path:
    if os.name == "nt":  # pragma: no cover - the gate runs on POSIX
        return directory / "Scripts" / "python.exe"
    return directory / "bin" / "python"


def project_python(
    project: Path, explicit: str | None, environ: os._Environ[str] | dict[str, str]
) -> Interpreter:
    """The interpreter that can import the project: pytest must run with it.

    gridgate installed on its own (pipx, ``uv tool``) lives in an environment without the
    project's dependencies; pytest run from there fails to import every test module, so
    such an environment is never used silently.
    """
    if explicit:
        given = Path(explicit)
        path = _venv_python(given) if given.is_dir() else given
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise UsageError(f"--python {explicit}: not an interpreter or virtual environment")
        return Interpreter(path, "--python")
    own = Path(sys.executable)
    prefix = Path(sys.prefix).resolve()
    is_venv = prefix != Path(sys.base_prefix).resolve()
    home = project.resolve()
    repository = next((d for d in [home, *home.parents] if (d / ".git").exists()), None)
    # gridgate installed in the project's (or its repository's) own environment, run by
    # path as in `.venv/bin/gridgate check`: that is the project's interpreter, whatever
    # else is activated.
    if is_venv and any(prefix.is_relative_to(d) for d in (home, repository) if d):
        return Interpreter(own, "gridgate's virtual environment, in the project")
    for variable in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        if environ.get(variable):
            path = _venv_python(Path(environ[variable]))
            if not path.is_file():
                raise UsageError(f"${variable} names no environment with {path}")
            return Interpreter(path, f"${variable}")
    local = _venv_python(project.absolute() / ".venv")
    if local.is_file():
        return Interpreter(local, "the project's .venv")
    if not is_venv:
        return Interpreter(own, "gridgate's interpreter, not a virtual environment")
    if home.is_relative_to(prefix.parent):
        return Interpreter(own, "gridgate's virtual environment, beside the project")
    raise UsageError(
        f"gridgate runs in {prefix}, an environment of its own (pipx? uv tool?) that cannot "
        "import the project; run pytest with the project's interpreter: activate its "
        f"virtual environment, create {project.absolute() / '.venv'}, or pass --python PATH"
    )


def _probe(python: Interpreter) -> None:
    """Fail at once, not test by test, when the interpreter cannot run the gate."""
    probe = (
        "import sys\n"
        "if sys.version_info < (3, 10): sys.exit('Python %d.%d; gridgate needs 3.10+' "
        "% sys.version_info[:2])\n"
        "import pytest_gridgate\n"
    )
    try:
        result = subprocess.run(
            [str(python.path), "-c", probe],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
        )
    except OSError as exc:
        raise UsageError(f"{python.path} ({python.why}): cannot run: {exc}") from None
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        why = lines[-1] if lines else f"exit {result.returncode}"
        raise UsageError(
            f"{python.path} ({python.why}) cannot run the gate: {why}; install "
            f"pytest-gridgate there ({python.path} -m pip install pytest-gridgate)"
        )


def _heading(text: str) -> None:
    print(f"\n== gridgate check: {text}", flush=True)


def scan(project: Path, config: Path | None, verbosity: int) -> tuple[Verdict, int]:
    """The scanner's verdict and exit code; its text output is what ``gridgate scan`` prints."""
    _heading("scan (gridgate scan)")
    with tempfile.TemporaryDirectory(prefix="gridgate-check-") as tmp:
        json_path = Path(tmp) / "scan.json"
        command = [sys.executable, "-m", "scanners"]
        if config is not None:
            command += ["--config", str(config)]
        # One scan, two reports: the text a user knows, the JSON the verdict is read from.
        command += ["--format", "text", "--format", "json", "--output", str(json_path)]
        result = subprocess.run(
            command, cwd=project, capture_output=True, text=True, timeout=SCAN_TIMEOUT
        )
        findings = _findings(json_path) if result.returncode in (0, 1) else None
    if verbosity >= 0 or findings is None:
        _print_capped(result.stdout, None if verbosity > 0 else MAX_FINDINGS)
    sys.stderr.write(result.stderr)
    if findings is None:
        if result.returncode in (0, 1):
            status = "PASS" if result.returncode == 0 else "FAIL"
            return Verdict("scan", status, f"the scanner exited {result.returncode}"), 1
        summary = f"the scanner exited {result.returncode} (usage or configuration error)"
        return Verdict("scan", "ERROR", summary), result.returncode
    if not findings and result.returncode == 0:
        return Verdict("scan", "PASS", "no findings"), 0
    rules = sorted({str(f.get("rule")) for f in findings})
    n = len(findings)
    summary = f"{n} finding{'s' if n != 1 else ''} ({', '.join(rules)})"
    return Verdict("scan", "FAIL", summary), result.returncode


def _print_capped(text: str, limit: int | None) -> None:
    lines = text.splitlines()
    found = [i for i, line in enumerate(lines) if _FINDING_LINE.match(line)]
    if limit is None or len(found) <= limit:
        shown = lines
    else:
        # The first findings, then the scanner's closing lines ("Found N findings ...").
        hidden = len(found) - limit
        shown = [
            *lines[: found[limit]],
            f"... and {hidden} more (gridgate check -v lists them all)",
            *lines[found[-1] + 1 :],
        ]
    for line in shown:
        print(line)


def _findings(path: Path) -> list[dict[str, Any]] | None:
    """The findings of the scanner's JSON output (version 1), or None if it is not that."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
        return None
    return [f for f in data["findings"] if isinstance(f, dict)]


def run_pytest(
    project: Path,
    python: Interpreter,
    config: Path | None,
    verbosity: int,
    extra: list[str],
) -> tuple[list[Verdict], int]:
    _heading(f"pytest with gridgate ({python.path}, {python.why})")
    with tempfile.TemporaryDirectory(prefix="gridgate-check-") as tmp:
        report_path = Path(tmp) / "report.json"
        # "-p gridgate" also works where plugin autoloading is switched off.
        command = [str(python.path), "-m", "pytest", "-p", "gridgate"]
        command += ["--continue-on-collection-errors", "--gridgate-report", str(report_path)]
        if config is not None:
            command += ["-c", str(config)]
        if verbosity:
            command.append("-" + ("v" if verbosity > 0 else "q") * abs(verbosity))
        command += extra
        env = dict(os.environ)
        env.pop("GITHUB_STEP_SUMMARY", None)  # a local run writes no CI step summary
        sys.stdout.flush()
        result = subprocess.run(command, cwd=project, env=env, timeout=PYTEST_TIMEOUT)
        report = _read_report(report_path)
    if report is None:
        status = "FAIL" if result.returncode in (1, 2) else "ERROR"
        meaning = {4: "usage or configuration error", 3: "internal error"}
        why = meaning.get(result.returncode, "no gate report")
        verdict = Verdict("pytest", status, f"pytest exited {result.returncode} ({why})")
        return [verdict], result.returncode
    verdicts = [
        Verdict(g["gate"], "PASS" if g["passed"] else "FAIL", str(g["summary"]))
        for g in report.get("gates", [])
    ]
    code = int(report.get("exit_code", result.returncode))
    if code != 0 and all(v.status == "PASS" for v in verdicts):
        verdicts.append(Verdict("pytest", "FAIL", f"pytest exited {code}"))
    return verdicts, code


def _read_report(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("version") == 1 else None


def print_table(
    project: Path, verdicts: list[Verdict], code: int, scan_code: int, pytest_code: int
) -> None:
    _heading(f"verdict for {project}")
    width = max(len(v.gate) for v in verdicts)
    for v in verdicts:
        print(f"{v.status:<5} {v.gate:<{width}}  {v.summary}")
    failed = [v.gate for v in verdicts if v.status in ("FAIL", "ERROR")]
    # Each tool's exit code is named with the tool: pytest's 2 for a collection error is
    # what its own section says, and this command's code is the verdict's.
    codes = f"exit code {code} (scanner exited {scan_code}, pytest exited {pytest_code})"
    if failed:
        print(f"gridgate check: FAILED ({', '.join(failed)}), {codes}")
    else:
        print(f"gridgate check: passed, {codes}")
