"""``signals``: signal handlers a test installed and did not restore.

Only the handful of signals that test code plausibly touches are read, one
``signal.getsignal`` each. SIGALRM is left out while pytest-timeout (or gridgate's
timeouts, built on it) may use it for its own per-test alarm.
"""

from __future__ import annotations

import importlib
import signal
import threading
from typing import Any

from pytest_gridgate.leaks.base import Leak

# The C function behind signal.getsignal, without its conversion to enums: 30 times cheaper.
_getsignal: Any = importlib.import_module("_signal").getsignal

_NAMES = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGCHLD", "SIGPIPE")


def describe_handler(handler: Any) -> str:
    if handler is None:
        return "a handler installed outside Python"
    if isinstance(handler, int):  # SIG_DFL / SIG_IGN
        try:
            return signal.Handlers(handler).name
        except ValueError:  # pragma: no cover
            return str(handler)
    code = getattr(handler, "__code__", None)
    name = getattr(handler, "__qualname__", None) or repr(handler)
    if code is not None:
        return f"{name} ({code.co_filename}:{code.co_firstlineno})"
    return name


def _restore(signum: signal.Signals, handler: Any) -> bool:
    if handler is None or threading.current_thread() is not threading.main_thread():
        return False
    signal.signal(signum, handler)
    return True


class SignalCheck:
    name = "signals"

    def __init__(self, *, include_sigalrm: bool = True) -> None:
        names = _NAMES + (("SIGALRM",) if include_sigalrm else ())
        self.signals = tuple(getattr(signal, n) for n in names if hasattr(signal, n))

    def snapshot(self) -> tuple[Any, ...]:
        return tuple(map(_getsignal, self.signals))

    def compare(self, before: Any) -> list[Leak]:
        now = self.snapshot()
        if now == before:
            return []
        leaks = []
        for signum, old, new in zip(self.signals, before, now, strict=False):
            if old == new:
                continue
            detail = (
                f"handler for {signal.Signals(signum).name} changed from "
                f"{describe_handler(old)} to {describe_handler(new)}"
            )
            leaks.append(
                Leak(
                    "signal",
                    ("signal", signum),
                    detail,
                    cleanup=lambda s=signum, h=old: _restore(s, h),  # type: ignore[misc]
                )
            )
        return leaks
