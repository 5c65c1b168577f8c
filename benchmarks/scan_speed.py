"""Scanner speed on the interpreter's own standard library, against ruff, semgrep and fixit.

Every ``.py`` under ``sysconfig.get_paths()["stdlib"]`` except ``site-packages``, copied to a
temporary directory so that every tool sees the same files and no ``.gitignore``. Each round
runs every case once, in a rotating order, so that drift in machine load falls on all of
them; the figure is the median wall time (and the children's CPU time beside it).

    python benchmarks/scan_speed.py                      # 3 rounds
    python benchmarks/scan_speed.py --rounds 1 --tools /tmp/bench-tools
    python benchmarks/scan_speed.py --before /tmp/gridgate-main   # before/after, one run

``--before DIR`` names another checkout of this project (``git worktree add DIR main``, or
``git archive main | tar -x -C DIR``): its scanner runs the all-rules cases too, in the same
rounds, so that a change is measured against what it replaces under the same load.

Cases:

- gridgate, all rules, cold (``--no-cache``);
- gridgate warm: the same scan again with the cache filled by an untimed priming run;
- gridgate ``--select GG001`` cold;
- one generated 5 MB module (a module-level table, a class of thousands of methods,
  ordinary functions, two findings), scanned cold by one process, beside Python's own
  ``ast.parse`` of it (issue 13 item 16: it took 35 s; the target is a few times the parse);
- ruff ``--select TID251`` with ``asyncio.get_event_loop`` banned, ``--no-cache``;
- semgrep and fixit with one equivalent rule, when they are installed. They are not
  dependencies of gridgate: ``--tools DIR`` names a virtual environment holding them
  (``python -m venv DIR && DIR/bin/pip install semgrep fixit``), else they are looked up on
  ``PATH``; a tool that is missing or fails is reported as skipped with the reason.
  fixit is stopped after ``--fixit-timeout`` seconds (it needs about ten minutes here).

Targets (issue 3): GG001 cold faster than semgrep; all rules cold <= 10 s; warm <= 2.5 x
ruff cold. Issue 13: the 5 MB module <= 5 x ``ast.parse`` (both include the interpreter's
start-up). Issue 15: all rules cold <= 12 x ruff, warm <= 0.5 x ruff.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

STDLIB = Path(sysconfig.get_paths()["stdlib"])

SEMGREP_RULE = """\
rules:
  - id: get-event-loop
    languages: [python]
    severity: ERROR
    message: use asyncio.get_running_loop()
    pattern: asyncio.get_event_loop(...)
"""

FIXIT_RULE = '''\
import libcst as cst
from fixit import LintRule


class NoGetEventLoop(LintRule):
    """asyncio.get_event_loop() (written as a dotted name)."""

    MESSAGE = "use asyncio.get_running_loop()"

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value == "get_event_loop"
            and isinstance(func.value, cst.Name)
            and func.value.value == "asyncio"
        ):
            self.report(node)
'''


PARSE_ONLY = "import ast, sys; ast.parse(open(sys.argv[1], 'rb').read())"


def write_big_module(path: Path) -> Path:
    """About 5 MB of Python in the shapes that made the scan slow: a module-level table, a
    class with thousands of methods, plain functions; one ``sys.exit`` in a function and one
    ``subprocess.run`` without timeout to find."""
    table = "".join(
        f"    'key{i}': [{i}, 'value {i}', {{'a': {i}, 'b': None}}],\n" for i in range(50_000)
    )
    methods = "".join(
        f"    def method_{i}(self, value):\n        return self.base + value * {i}\n\n"
        for i in range(14_000)
    )
    functions = "".join(
        f"def helper_{i}(items):\n    total = 0\n    for item in items:\n"
        f"        total += item * {i}\n    return total\n\n\n"
        for i in range(14_000)
    )
    path.write_text(
        "import subprocess\nimport sys\n\n"
        f"TABLE = {{\n{table}}}\n\n\nclass Generated:\n    base = 1\n\n{methods}"
        f"{functions}def stop(code):\n    sys.exit(code)\n\n\n"
        "def run(cmd):\n    return subprocess.run(cmd, check=True)\n"
    )
    return path


@dataclass
class Case:
    name: str
    command: list[str]
    note: str = ""
    timeout: float = 600.0
    prime: bool = False  # run once, untimed, before measuring (the warm case)
    env: dict[str, str] | None = None  # extra environment (--before: its PYTHONPATH)
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    skipped: str = ""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _measure(case: Case, cwd: Path) -> None:
    cpu = _children_cpu()
    start = time.perf_counter()
    try:
        completed = subprocess.run(
            case.command,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=case.timeout,
            check=False,
            env={**os.environ, **case.env} if case.env else None,
        )
    except subprocess.TimeoutExpired:
        case.skipped = f"stopped after {case.timeout:g} s"
        return
    except OSError as exc:
        case.skipped = f"cannot run: {exc.strerror}"
        return
    wall = time.perf_counter() - start
    # Exit 1 means findings, which every tool has on the standard library.
    if completed.returncode not in (0, 1):
        last = completed.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        case.skipped = f"exit {completed.returncode}: {last[0][:80]}"
        return
    case.walls.append(wall)
    case.cpus.append(_children_cpu() - cpu)


def _tool(name: str, tools: Path | None) -> str | None:
    for directory in (tools / "bin" if tools else None, Path(sys.executable).parent):
        if directory is not None and (directory / name).exists():
            return str(directory / name)
    return shutil.which(name)


def copy_stdlib(target: Path) -> Path:
    """A copy outside any git work tree: some tools skip what a parent .gitignore ignores
    (a pyenv installation lives in an ignored part of the pyenv checkout)."""
    ignore = shutil.ignore_patterns("site-packages", "__pycache__", "*.pyc")
    shutil.copytree(STDLIB, target, ignore=ignore, symlinks=True)
    return target


def before_cases(gridgate: list[str], before: Path) -> list[Case]:
    """The all-rules cases again, with the scanner of the checkout ``before``."""
    path = os.pathsep.join(filter(None, [str(before.resolve()), os.environ.get("PYTHONPATH")]))
    env = {"PYTHONPATH": path}
    return [
        Case("before: all rules, cold", [*gridgate, "--no-cache"], str(before), env=env),
        Case("before: all rules, warm", gridgate, "cache hit", prime=True, env=env),
    ]


def build_cases(work: Path, tree: Path, tools: Path | None, fixit_timeout: float) -> list[Case]:
    config = work / "gridgate.yaml"
    config.write_text("scan: {}\n")
    gridgate = [sys.executable, "-m", "scanners", str(tree), "--config", str(config)]
    ruff = _tool("ruff", tools)
    big = write_big_module(work / "big_module.py")
    size = f"{big.stat().st_size / 1e6:.1f} MB"
    cases = [
        Case("gridgate all rules, cold", [*gridgate, "--no-cache"], "--no-cache"),
        Case("gridgate all rules, warm", gridgate, "cache hit", prime=True),
        Case("gridgate --select GG001, cold", [*gridgate, "--select", "GG001", "--no-cache"]),
        Case(
            "gridgate one big module, cold",
            [*gridgate[:3], str(big), *gridgate[4:], "--no-cache", "--jobs", "1"],
            f"{size}, one process",
        ),
        Case(
            "python ast.parse, big module",
            [sys.executable, "-c", PARSE_ONLY, str(big)],
            "the parse it is compared with",
        ),
    ]
    if ruff:
        cases.append(
            Case(
                "ruff --select TID251, cold",
                [
                    *(ruff, "check", "--no-cache", "--isolated", "--select", "TID251"),
                    "--config",
                    "lint.flake8-tidy-imports.banned-api.'asyncio.get_event_loop'.msg = 'x'",
                    *("--output-format", "concise", str(tree)),
                ],
                "banned-api",
            )
        )
    else:
        cases.append(Case("ruff --select TID251, cold", [], skipped="ruff not installed"))

    semgrep = _tool("semgrep", tools)
    rule = work / "semgrep.yml"
    rule.write_text(SEMGREP_RULE)
    cases.append(
        Case(
            "semgrep, one rule",
            [
                *(semgrep or "semgrep", "scan", "--config", str(rule), "--metrics=off"),
                *("--disable-version-check", "--no-git-ignore", "--quiet"),
                *("--jobs", str(os.cpu_count() or 1), str(tree)),
            ],
            "pattern asyncio.get_event_loop(...)",
            skipped="" if semgrep else "semgrep not installed (see --tools)",
        )
    )

    fixit = _tool("fixit", tools)
    (work / "bench_rules").mkdir(exist_ok=True)
    (work / "bench_rules" / "__init__.py").write_text("")
    (work / "bench_rules" / "get_event_loop.py").write_text(FIXIT_RULE)
    cases.append(
        Case(
            "fixit, one rule",
            [
                *(fixit or "fixit", "--rules", "bench_rules.get_event_loop"),
                *("lint", str(tree)),
            ],
            "LintRule on Call",
            timeout=fixit_timeout,
            skipped="" if fixit else "fixit not installed (see --tools)",
        )
    )
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tools", type=Path, help="a virtual environment with semgrep, fixit")
    parser.add_argument("--fixit-timeout", type=float, default=120.0)
    parser.add_argument("--skip", action="append", default=[], help="skip cases containing")
    parser.add_argument("--before", type=Path, help="another checkout to compare with")
    args = parser.parse_args(argv)

    files = [p for p in STDLIB.rglob("*.py") if "site-packages" not in p.parts]
    print(f"standard library: {STDLIB} ({len(files)} files), {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="gridgate-bench-") as tmp:
        work = Path(tmp)
        tree = copy_stdlib(work / "stdlib")
        cases = build_cases(work, tree, args.tools, args.fixit_timeout)
        if args.before:
            cases += before_cases(cases[1].command, args.before)
        for case in cases:
            if any(s in case.name for s in args.skip):
                case.skipped = case.skipped or "skipped (--skip)"
        env_path = os.environ.get("PYTHONPATH", "")
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(work), env_path]))
        for case in cases:
            if case.prime and not case.skipped:
                subprocess.run(
                    case.command,
                    cwd=work,
                    capture_output=True,
                    check=False,
                    timeout=case.timeout,
                    env={**os.environ, **case.env} if case.env else None,
                )
        for round_ in range(args.rounds):
            order = cases[round_ % len(cases) :] + cases[: round_ % len(cases)]
            for case in order:
                # fixit is measured once: it takes minutes.
                if case.skipped or (case.name.startswith("fixit") and case.walls):
                    continue
                _measure(case, work)
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)

    def median(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    wall = {case.name: median(case.walls) for case in cases}
    rows = []
    for case in cases:
        if case.skipped and not case.walls:
            stopped = case.skipped.startswith("stopped after")
            shown = f"> {case.timeout:g}" if stopped else "-"
            rows.append((case.name, shown, "-", case.skipped))
            continue
        rows.append((case.name, f"{wall[case.name]:.2f}", f"{median(case.cpus):.2f}", case.note))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'case':<{width}}  {'wall s':>7}  {'cpu s':>7}  note")
    for name, w, c, note in rows:
        print(f"{name:<{width}}  {w:>7}  {c:>7}  {note}")

    cold, warm, gg001, big, parse = (wall[c.name] for c in cases[:5])
    ruff = wall.get("ruff --select TID251, cold", float("nan"))
    semgrep = wall.get("semgrep, one rule", float("nan"))
    print()
    for label, ok in (
        (f"all rules cold {cold:.2f} s <= 10 s", cold <= 10),
        (f"warm {warm:.2f} s <= 2.5 x ruff {ruff:.2f} s = {2.5 * ruff:.2f} s", warm <= 2.5 * ruff),
        (f"GG001 cold {gg001:.2f} s < semgrep {semgrep:.2f} s", gg001 < semgrep),
        (
            f"big module {big:.2f} s <= 5 x ast.parse {parse:.2f} s = {5 * parse:.2f} s",
            big <= 5 * parse,
        ),
    ):
        print(f"{'met ' if ok else 'MISSED'} {label}")
    # Issue 15, by wall time and, since a loaded machine stretches wall times unevenly, by
    # CPU time (the command's and its workers') too.
    cpu = {case.name: median(case.cpus) for case in cases}
    ruff_cpu = cpu.get("ruff --select TID251, cold", float("nan"))
    prefixes = ["before: ", ""] if args.before else [""]
    for prefix in prefixes:
        names = (
            (f"{prefix}all rules, cold", f"{prefix}all rules, warm")
            if prefix
            else (cases[0].name, cases[1].name)
        )
        for kind, name, limit in (("cold", names[0], 12.0), ("warm", names[1], 0.5)):
            for unit, figures, base in (("wall", wall, ruff), ("cpu", cpu, ruff_cpu)):
                ratio = figures[name] / base
                label = f"{prefix}{kind} {ratio:.2f} x ruff ({unit}) <= {limit:g} x"
                print(f"{'met ' if ratio <= limit else 'MISSED'} {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
