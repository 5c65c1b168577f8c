"""CPU cost of the fd check's deep tier for tests that leave a socket open.

    python benchmarks/socket_leak_cost.py [--tests 200] [--rounds 3] [--source DIR ...]

Generates a suite whose conftest builds a heap of about a million long-lived objects (a
big suite's), and ``--tests`` tests that each keep a socket in a live object that moved
to the oldest generation (as anyio's socket tests do), and as many that leak nothing. Each
round runs it with gridgate (``leaks.action = "warn"``, timeouts off) and with
``-p no:gridgate``, back to back; prints the median of the rounds' CPU ratios. Each
``--source`` (a checkout of this repository) is put first on ``PYTHONPATH`` for its own
runs, so that two versions are compared in one run (default: the installed one).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

CONFTEST = """
    import gc

    HEAP = [[i, str(i), {"k": i}] for i in range(300_000)]
    gc.collect()
"""

TESTS = """
    import gc
    import socket

    import pytest

    KEPT = []


    @pytest.mark.parametrize("n", range({tests}))
    def test_keeps_a_socket(n):
        KEPT.append(socket.socket())
        gc.collect(1)  # a test that allocates: the socket moves to the oldest generation


    @pytest.mark.parametrize("n", range({tests}))
    def test_plain(n):
        pass
"""

PYPROJECT = """
    [tool.gridgate.leaks]
    action = "warn"
    [tool.gridgate.timeouts]
    default = 0
    session = 0
    collection = 0
    kill_after = 0
"""


def _cpu(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    command += ["-p", "no:randomly", "-p", "no:xdist"]
    quiet = subprocess.DEVNULL  # the kept sockets warn at the interpreter's exit
    subprocess.run(command, cwd=cwd, env=env, stdout=quiet, stderr=quiet, check=False, timeout=900)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--source", action="append", default=[])
    options = parser.parse_args()
    sources = options.source or [""]
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp)
        (suite / "conftest.py").write_text(textwrap.dedent(CONFTEST))
        (suite / "test_sockets.py").write_text(
            textwrap.dedent(TESTS).replace("{tests}", str(options.tests))
        )
        (suite / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
        ratios: dict[str, list[float]] = {source: [] for source in sources}
        for _ in range(options.rounds):
            for source in sources:
                env = dict(os.environ)
                if source:
                    env["PYTHONPATH"] = os.pathsep.join(
                        filter(None, [source, env.get("PYTHONPATH")])
                    )
                on = _cpu([], suite, env)
                off = _cpu(["-p", "no:gridgate"], suite, env)
                ratios[source].append(on / off)
        for source, each in ratios.items():
            print(
                f"{source or 'installed'}: CPU on/off {statistics.median(each):.2f}"
                f" (median of {options.rounds} rounds; {', '.join(f'{r:.2f}' for r in each)})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
