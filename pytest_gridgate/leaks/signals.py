"""``signals``: signal handlers a test installed and did not restore.

Only the handful of signals that test code plausibly touches are watched. Python-level
handlers change only through ``signal.signal``, which keeps their current values for the
snapshot (:mod:`pytest_gridgate.leaks.tracking`); the comparison reads them again, one
``signal.getsignal`` each. SIGALRM is left out while pytest-timeout (or gridgate's
timeouts, built on it) may use it for its own per-test alarm.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

from pytest_gridgate.leaks.base import Leak
from pytest_gridgate.leaks.tracking import (
    SIGALRM,
    WATCHED_SIGNALS,
    alarm_handler,
    getsignal,
    site_of,
    watched_handlers,
)


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
        alarm = (SIGALRM,) if include_sigalrm and SIGALRM is not None else ()
        self.signals = WATCHED_SIGNALS + alarm
        # The handlers as ``signal.signal`` last left them (no call into the signal module
        # per test); SIGALRM, which pytest-timeout sets around every test, only on request.
        self.snapshot: Callable[[], tuple[Any, ...]] = (
            self._with_alarm if alarm else watched_handlers
        )

    def _with_alarm(self) -> tuple[Any, ...]:
        return (*watched_handlers(), alarm_handler())

    def _read(self) -> tuple[Any, ...]:
        return tuple(map(getsignal, self.signals))

    def compare(self, before: Any) -> list[Leak]:
        now = self._read()
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
                    origin=site_of(("signal", signum)),
                )
            )
        return leaks
