"""Leak detection on real projects: their own test suites, from their PyPI sdists.

For each project: download the sdist (``pip download --no-binary :all: --no-deps``), unpack
it into a scratch directory outside the repository, install it and its test dependencies
into a scratch venv together with this checkout of pytest-gridgate, then run its test suite
alternately with ``-p no:gridgate`` and with gridgate (``leaks.action = "warn"``, every
default check, timeouts off). Reports the CPU ratio of the pytest process (median of the
rounds), the ratio with the children it reaped for information, and every leak gridgate
found, read from the ``leaks`` section of its JSON gate report.

    python benchmarks/real_world_leaks.py                      # attrs, packaging, execnet
    python benchmarks/real_world_leaks.py --project attrs --rounds 1 --workdir /tmp/rw

Nothing of the projects' code is kept in this repository.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from overhead_harness import run_env

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Project:
    name: str
    test_deps: tuple[str, ...]
    test_args: tuple[str, ...]
    why: str
    env: dict[str, str] = field(default_factory=dict)
    extras: str = ""  # installed as ``project[extras]``


PROJECTS = (
    Project(
        "attrs",
        ("hypothesis", "pympler", "cloudpickle"),
        ("tests", "--ignore=tests/test_mypy.yml", "-p", "no:mypy-plugins"),
        "pure Python, large suite of small tests: the per-test overhead",
    ),
    Project(
        "packaging",
        ("pretend", "pip", "tomli_w", "hypothesis"),
        ("tests",),
        "pure Python, many parametrized tests",
    ),
    Project(
        "execnet",
        (),
        ("testing", "-p", "no:cacheprovider"),
        "starts Python subprocesses and threads in most tests (gateways, channels)",
    ),
    Project(
        "anyio",
        # Its ``test`` dependency group (an sdist's groups are not installable by name).
        (
            "blockbuster",
            "coverage[toml]",
            "hypothesis",
            "psutil",
            "pytest-mock",
            "pytest-timeout",
            "trustme",
            "truststore",
            "uvloop",
        ),
        # Its own addopts load pytest-timeout (timeout = 20); no Internet here.
        ("tests", "-m", "not network", "-p", "no:cacheprovider"),
        "asyncio, trio and uvloop backends; sockets, subprocesses, worker threads",
        extras="trio",
    ),
    Project(
        "pexpect",
        (),
        ("tests", "-p", "no:cacheprovider"),
        "a child process on a pty in nearly every test, closed by __del__ when forgotten",
    ),
    Project(
        "watchdog",
        ("flaky", "pytest-timeout"),
        ("tests", "-p", "no:cacheprovider", "-p", "no:xdist"),
        "inotify observers: threads per test, session-scoped emitter fixtures",
        extras="watchmedo",
    ),
    Project(
        "httpcore",
        ("pytest-trio", "hyperframe"),
        ("tests", "-p", "no:cacheprovider"),
        "connection pools over in-memory and real sockets, anyio and trio backends,"
        " filterwarnings = error",
        extras="http2,socks,trio,asyncio",
    ),
)


def run(cmd: list[str], **kwargs: object) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kwargs)  # type: ignore[call-overload]


def prepare(workdir: Path, projects: list[Project]) -> Path:
    venv = workdir / "venv"
    python = venv / "bin" / "python"
    if not python.exists():
        run([sys.executable, "-m", "venv", str(venv)])
    # Every time, not only for a new venv: a reused scratch venv must measure this checkout.
    # With its dependencies: pytest itself comes from here, not from the projects.
    run([str(python), "-m", "pip", "install", "-q", "-e", str(REPO)])
    sdists = workdir / "sdists"
    for project in projects:
        source = workdir / project.name
        if source.exists():
            continue
        download = ["download", "-q", "--no-binary", ":all:", "--no-deps", "-d", str(sdists)]
        run([str(python), "-m", "pip", *download, project.name])
        archive = next(sdists.glob(f"{project.name}-*.tar.gz"))
        with tarfile.open(archive) as tar:
            tar.extractall(workdir / "unpacked", filter="data")
        unpacked = next((workdir / "unpacked").glob(f"{project.name}-*"))
        unpacked.rename(source)
        target = f"{source}[{project.extras}]" if project.extras else str(source)
        run([str(python), "-m", "pip", "install", "-q", target, *project.test_deps])
    return python


# Runs pytest as ``python -m pytest`` does, then records the pytest process's own CPU time.
# The children's CPU time is measured too, but is not a fair comparison where tests leak
# processes: gridgate kills and reaps them (their CPU time then counts), while without it
# they outlive pytest and are reaped by init (it does not).
_LAUNCHER = (
    "import os, resource, sys, pytest\n"
    "code = pytest.main(sys.argv[1:])\n"
    "usage = resource.getrusage(resource.RUSAGE_SELF)\n"
    "with open(os.environ['BENCHMARK_CPU_FILE'], 'w') as f:\n"
    "    f.write(repr(usage.ru_utime + usage.ru_stime))\n"
    "sys.exit(int(code))\n"
)


def cpu_of_run(
    python: Path, project: Project, cwd: Path, extra: list[str], env: dict[str, str]
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """CPU seconds of the pytest process alone, and with its reaped children; the result."""
    cpu_file = cwd.parent / "cpu-of-run.txt"
    cpu_file.unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(
        [str(python), "-c", _LAUNCHER, "-q", "-p", "no:randomly", *project.test_args, *extra],
        cwd=cwd,
        env=dict(env, BENCHMARK_CPU_FILE=str(cpu_file)),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    own = float(cpu_file.read_text()) if cpu_file.exists() else total
    return own, total, result


def _outcomes(junit: Path) -> dict[str, str]:
    """Each test case of a JUnit XML file: ``passed``, ``failed``, ``error`` or ``skipped``."""
    import xml.etree.ElementTree as ElementTree

    if not junit.exists():
        return {}
    outcomes: dict[str, str] = {}
    for case in ElementTree.parse(junit).iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        tags = {child.tag for child in case}
        # A test whose call passed and whose teardown errored has both in pytest's report:
        # the worst outcome is the test's.
        outcome = next(
            (
                o
                for o, t in (("error", "error"), ("failed", "failure"), ("skipped", "skipped"))
                if t in tags
            ),
            "passed",
        )
        if outcomes.get(name) in ("error", "failed") and outcome == "passed":
            continue
        outcomes[name] = outcome
    return outcomes


def measure(python: Path, workdir: Path, project: Project, rounds: int, action: str) -> None:
    cwd = workdir / project.name
    record = workdir / f"{project.name}-leaks.json"
    junit_on, junit_off = workdir / f"{project.name}-on.xml", workdir / f"{project.name}-off.xml"
    for stale in (record, junit_on, junit_off):
        stale.unlink(missing_ok=True)  # never read an earlier run's results as this one's
    # Bytecode as an installed wheel has it (run_env): in a PYTHONDONTWRITEBYTECODE=1 shell
    # every gated run compiled the plugin's sources again (445 M instructions per run under
    # callgrind, nearly twice gridgate's own start-up from bytecode), a cost of the
    # editable checkout, not of the gate.
    base_env = run_env()
    base_env.update(project.env)
    compile_plugin = (
        "import compileall, os, pytest_gridgate;"
        " compileall.compile_dir(os.path.dirname(pytest_gridgate.__file__), quiet=1)"
    )
    run([str(python), "-c", compile_plugin])
    on_env = dict(
        base_env,
        GRIDGATE_LEAKS_ACTION=action,
        GRIDGATE_TIMEOUTS_DEFAULT="0",
        GRIDGATE_COLLECTION_MIN_TESTS="0",
    )
    # The gate report carries every worker's and the session's leak entries.
    on_args = ["--gridgate-report", str(record), "--junitxml", str(junit_on)]
    off_args = ["-p", "no:gridgate", "--junitxml", str(junit_off)]
    on: list[float] = []
    off: list[float] = []
    on_total: list[float] = []
    off_total: list[float] = []
    outcome = ""
    for round_ in range(rounds):
        pair = [(on, on_total, on_args, on_env), (off, off_total, off_args, base_env)]
        for samples, totals, args, env in pair if round_ % 2 == 0 else reversed(pair):
            cpu, total, result = cpu_of_run(python, project, cwd, args, env)
            if result.returncode not in (0, 1):  # 1: failing tests (or leaks, gate on)
                last = (result.stdout or result.stderr).strip().splitlines()[-1:]
                raise SystemExit(
                    f"{project.name}: pytest {' '.join(args)} exited {result.returncode}: "
                    + (last[0] if last else "no output")
                )
            samples.append(cpu)
            totals.append(total)
            if samples is on:
                lines = (result.stdout or result.stderr).strip().splitlines()
                outcome = lines[-1] if lines else f"exit {result.returncode}"
    ratio = statistics.median(on) / statistics.median(off)
    gate_report = json.loads(record.read_text()) if record.exists() else {}
    entries = gate_report.get("leaks", [])
    causes = len(gate_report.get("leak_groups", []))
    with_gate, without = _outcomes(junit_on), _outcomes(junit_off)
    broken = sorted(
        name
        for name, result in with_gate.items()
        if result in ("failed", "error") and without.get(name) in ("passed", "skipped")
    )
    kinds: dict[str, int] = {}
    for entry in entries:
        kinds[entry["kind"]] = kinds.get(entry["kind"], 0) + 1
    print(f"\n== {project.name}: {project.why}")
    print(f"   last gridgate run (leaks.action = {action}): {outcome}")
    print()
    header = (
        "tests | pass without gridgate, fail or error with it | findings by kind"
        " | causes (leak groups) | CPU on/off"
    )
    print(f"   | {header} |")
    print("   |---|---|---|---|---|")
    by_kind = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())) or "none"
    print(f"   | {len(without)} | {len(broken)} | {by_kind} | {causes} | {ratio:.2f} |")
    print()
    print(
        f"   CPU of the pytest process: gridgate {statistics.median(on):.2f}s,"
        f" baseline {statistics.median(off):.2f}s, ratio {ratio:.3f} ({rounds} rounds)"
    )
    print(f"   samples gridgate {[round(x, 2) for x in on]}, baseline {[round(x, 2) for x in off]}")
    total_ratio = statistics.median(on_total) / statistics.median(off_total)
    print(
        f"   with reaped children: gridgate {statistics.median(on_total):.2f}s,"
        f" baseline {statistics.median(off_total):.2f}s, ratio {total_ratio:.3f}"
    )
    print(f"   {len(broken)} test(s) pass without gridgate and fail or error with it:")
    for name in broken:
        print(f"   - {name}")
    for group in gate_report.get("leak_groups", []):
        # A group of one place's lines (a setUp's two setters) names them all.
        origin = ", ".join(group.get("origins") or [str(group["origin"])])
        print(f"   cause: {group['count']} x {group['kind']}: {group['detail']} ({origin})")
    print(f"   {len(entries)} leak finding(s)")
    for entry in entries:
        print(f"   - {entry['nodeid']}: {entry['kind']}: {entry['detail']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", action="append", choices=[p.name for p in PROJECTS])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument(
        "--action",
        choices=["warn", "fail"],
        default="fail",
        help="leaks.action of the gated runs (fail: what a gated CI sees; the default)",
    )
    options = parser.parse_args()
    projects = [p for p in PROJECTS if not options.project or p.name in options.project]
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="gridgate-real-world-"))
    workdir.mkdir(parents=True, exist_ok=True)
    python = prepare(workdir, projects)
    for project in projects:
        measure(python, workdir, project, options.rounds, options.action)
    return 0


if __name__ == "__main__":
    sys.exit(main())
