"""Start-up cost of the configuration: import it and load a project's ``[tool.gridgate]``.

Every pytest run with gridgate on (and every ``gridgate scan``) pays this once. The figure
is measured in fresh interpreters (a warm one has everything imported already), for this
checkout and for an earlier revision exported from git (default ``main``), alternating the
two in each round so that both see the same drift of a shared machine. The time is the
interpreter's CPU time for the import and the load (``time.process_time``): on a shared
machine wall-clock time of a 50 ms step varies by more than the difference measured.
Printed: the median and fastest milliseconds of each, and the difference of the medians.
Target (issue 15): under 10 ms added.

    python benchmarks/settings_load.py                    # against main, 15 rounds
    python benchmarks/settings_load.py --before HEAD~3 --rounds 25
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tarfile
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The loader moved from pytest_gridgate.config (before issue 15; pytest_gridgate.settings was
# the pytest glue then) to the package pytest_gridgate.settings.
PROBE = textwrap.dedent(
    """
    import sys, time
    start = time.process_time()
    load_config = __import__(sys.argv[2], fromlist=["load_config"]).load_config
    config = load_config(file=__import__("pathlib").Path(sys.argv[1]), environ={})
    assert config.memory.limit == 2 * 10**9
    print((time.process_time() - start) * 1000)
    """
)

PROJECT = """
[tool.gridgate]
profile = "ci"
[tool.gridgate.env]
DATABASE_URL = "sqlite:///:memory:"
[tool.gridgate.timeouts]
default = 30
markers = { slow = 300 }
[tool.gridgate.leaks]
checks = ["threads", "processes", "fds"]
ignore = { fds = ["pipe:*"] }
[tool.gridgate.memory]
limit = "2GB"
[tool.gridgate.scan]
exclude = ["build/**"]
[tool.gridgate.profiles.ci]
leaks = { action = "warn" }
"""


def _export(revision: str, into: Path) -> Path:
    archive = into / "before.tar"
    with archive.open("wb") as out:
        subprocess.run(
            ["git", "archive", revision, "pytest_gridgate"],
            cwd=ROOT,
            stdout=out,
            check=True,
            timeout=120,
        )
    with tarfile.open(archive) as tar:
        tar.extractall(into / "before", filter="data")
    return into / "before"


def _once(source: Path, project: Path) -> float:
    # -I: no user site, no PYTHONPATH from outside, so ``source`` alone provides the package;
    # bytecode is written on the first (discarded) round, as in an installed package.
    package = source / "pytest_gridgate" / "settings" / "__init__.py"
    module = "pytest_gridgate.settings" if package.exists() else "pytest_gridgate.config"
    code = f"import sys; sys.path.insert(0, {str(source)!r})\n{PROBE}"
    result = subprocess.run(
        [sys.executable, "-I", "-c", code, str(project), module],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return float(result.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main", help="git revision (default: main)")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        project = tmp_path / "pyproject.toml"
        project.write_text(PROJECT)
        trees = {"before": _export(args.before, tmp_path), "after": ROOT}
        times: dict[str, list[float]] = {name: [] for name in trees}
        for tree in trees.values():
            _once(tree, project)  # writes bytecode, warms the disk cache
        for round_ in range(args.rounds):
            order = list(trees) if round_ % 2 == 0 else list(reversed(trees))
            for name in order:
                times[name].append(_once(trees[name], project))
    for name, values in times.items():
        print(
            f"{name:>6} ({args.before if name == 'before' else 'this tree'}): "
            f"median {statistics.median(values):.2f} ms, fastest {min(values):.2f} ms"
        )
    added = statistics.median(times["after"]) - statistics.median(times["before"])
    print(f"added: {added:+.2f} ms (target: under 10 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
