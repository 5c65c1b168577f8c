"""Two deliberate hangs for the timeouts gate (examples/pyproject.toml: default = 3 s,
kill_after = 2 s).

* ``test_python_level_hang`` sleeps: stage one (pytest-timeout's signal) interrupts it
  after 3 s, the test fails with a TIMEOUT verdict, the child it started is killed, and
  the run goes on.
* ``test_c_level_hang`` is stuck in C code that never returns to the interpreter and holds
  the GIL: no signal handler and no thread can run. 2 s after its timeout gridgate's
  supervisor dumps every thread's stack, kills the process tree and the run (under xdist,
  only the worker: the controller names the test and the run goes on). The gate report
  still names the test.

Run only the first with ``-k python_level`` to see a run that survives a hang.
"""

import subprocess
import sys
import time


def test_python_level_hang():
    # A child that would outlive the test if nobody killed it.
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    time.sleep(600)


def test_c_level_hang():
    sum(range(10**12))  # C code holding the GIL: minutes of work, no signal checks
