"""For inner runs (copied into a pytester project by ``gated.inner``): gridgate's watchers.

The watcher is no child of the run (see ``pytest_gridgate/timeouts/watcher.sh``): it is
found by its argv, which names the run's pid (argv[5]; its state is argv[4]).
"""

from __future__ import annotations

import os


def watcher_argvs() -> list[tuple[int, list[bytes]]]:
    """Pid and argv of each gridgate watcher of this process."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv[0] == b"gridgate-watchdog" and argv[5] == str(os.getpid()).encode():
            found.append((int(pid), argv))
    return found


def watchers() -> list[int]:
    """Pids of the gridgate watchers of this process."""
    return [pid for pid, _ in watcher_argvs()]
