"""``gridgate check [PATH] [-- PYTEST_ARGS...]``: the whole gate on a project, locally.

Runs, in the project directory, the scanner (``python -m scanners``: Python sources and
workflow YAML) and pytest with the gridgate plugin, each in a subprocess of the current
interpreter, shows their output as it comes, then prints one verdict table. pytest runs
with ``--continue-on-collection-errors`` so that every gate gets a verdict in one go; the
collection gate fails the run all the same.

Exit codes: 0 every gate that ran passed; 1 a gate failed; 2 a gate could not run
(bad PATH or arguments, an invalid configuration, pytest crashed without a report).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

USAGE = "usage: gridgate check [PATH] [-- PYTEST_ARGS...]"
HELP = f"""{USAGE}

Run the whole gate on the project at PATH (default: the current directory):
the scanner (sources and workflows), then pytest with gridgate; one verdict.

exit codes: 0 all gates passed, 1 a gate failed, 2 a gate could not run"""

# Generous ceilings: the plugin's own session timeout normally ends a run long before.
SCAN_TIMEOUT = 900
PYTEST_TIMEOUT = 6 * 3600
MAX_FINDINGS = 50


@dataclass(frozen=True)
class Verdict:
    gate: str
    status: str  # PASS, FAIL, ERROR
    summary: str


def main(argv: list[str]) -> int:
    args, pytest_args = _split(argv)
    if any(a in ("-h", "--help") for a in args):
        print(HELP)
        return 0
    if len(args) > 1 or any(a.startswith("-") for a in args):
        print(f"{USAGE}\ngridgate check: error: unexpected arguments {args}", file=sys.stderr)
        return 2
    project = Path(args[0] if args else ".")
    if not project.is_dir():
        print(f"gridgate check: error: {project}: not a directory", file=sys.stderr)
        return 2

    verdicts = [scan(project)]
    verdicts += run_pytest(project, pytest_args)
    print_table(project, verdicts)
    if any(v.status == "ERROR" for v in verdicts):
        return 2
    return 1 if any(v.status == "FAIL" for v in verdicts) else 0


def _split(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    return argv, []


def _heading(text: str) -> None:
    print(f"\n== gridgate check: {text}", flush=True)


def scan(project: Path) -> Verdict:
    _heading("scan (python -m scanners --format json)")
    result = subprocess.run(
        [sys.executable, "-m", "scanners", "--format", "json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=SCAN_TIMEOUT,
    )
    findings = _findings(result.stdout) if result.returncode in (0, 1) else None
    if findings is None:
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        if result.returncode in (0, 1):
            status = "PASS" if result.returncode == 0 else "FAIL"
            return Verdict("scan", status, f"the scanner exited {result.returncode}")
        return Verdict("scan", "ERROR", f"the scanner exited {result.returncode} (usage error)")
    sys.stderr.write(result.stderr)
    for finding in findings[:MAX_FINDINGS]:
        print(
            f"{finding.get('path')}:{finding.get('line')}:{finding.get('column')}: "
            f"{finding.get('rule')} {finding.get('message')}"
        )
    if len(findings) > MAX_FINDINGS:
        print(f"... and {len(findings) - MAX_FINDINGS} more")
    if not findings and result.returncode == 0:
        return Verdict("scan", "PASS", "no findings")
    rules = sorted({str(f.get("rule")) for f in findings})
    n = len(findings)
    return Verdict("scan", "FAIL", f"{n} finding{'s' if n != 1 else ''} ({', '.join(rules)})")


def _findings(stdout: str) -> list[dict[str, Any]] | None:
    """The findings of the scanner's JSON output (version 1), or None if it is not that."""
    try:
        data = json.loads(stdout)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
        return None
    return [f for f in data["findings"] if isinstance(f, dict)]


def run_pytest(project: Path, extra: list[str]) -> list[Verdict]:
    _heading("pytest with gridgate")
    with tempfile.TemporaryDirectory(prefix="gridgate-check-") as tmp:
        report_path = Path(tmp) / "report.json"
        # "-p gridgate" also works where plugin autoloading is switched off.
        command = [sys.executable, "-m", "pytest", "-p", "gridgate"]
        command += ["--continue-on-collection-errors", "--gridgate-report", str(report_path)]
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
        return [Verdict("pytest", status, f"pytest exited {result.returncode} ({why})")]
    verdicts = [
        Verdict(g["gate"], "PASS" if g["passed"] else "FAIL", str(g["summary"]))
        for g in report.get("gates", [])
    ]
    code = int(report.get("exit_code", result.returncode))
    if code != 0 and all(v.status == "PASS" for v in verdicts):
        verdicts.append(Verdict("pytest", "FAIL", f"pytest exited {code}"))
    return verdicts


def _read_report(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("version") == 1 else None


def print_table(project: Path, verdicts: list[Verdict]) -> None:
    _heading(f"verdict for {project}")
    width = max(len(v.gate) for v in verdicts)
    for v in verdicts:
        print(f"{v.status:<5} {v.gate:<{width}}  {v.summary}")
    failed = [v.gate for v in verdicts if v.status in ("FAIL", "ERROR")]
    if failed:
        print(f"gridgate check: FAILED ({', '.join(failed)})")
    else:
        print("gridgate check: passed")
