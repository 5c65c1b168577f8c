"""Other packages' private APIs, each behind one function of this module.

gridgate builds on pytest-timeout, pytest and the interpreter in places where they offer
no public way to do what it needs. Every such use is here, named for what it does, with
the versions it was written against and what happens when it is missing, so that a
release that changes one of them breaks one place, and ``tests/test_compat_private_apis.py``
(which checks each against the installed versions) says which.

Nothing is imported at module level beyond the standard library's always-loaded modules:
the gates import this module at start-up, and some of these functions run once per test.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Iterable
from typing import Any

# -- pytest-timeout (2.3, 2.4) ----------------------------------------------------------------


def timeout_settings(item: Any, marker: Any = None) -> Any:
    """pytest-timeout's ``Settings`` for ``item`` (its ``timeout``, ``method``,
    ``func_only``, ``disable_debugger_detection``): what its own hooks arm. With
    ``marker``, read from that ``timeout`` marker; raises ``TypeError``/``ValueError`` for
    a marker it cannot read. Private: ``pytest_timeout._get_item_settings``."""
    import pytest_timeout  # type: ignore[import-untyped]

    return pytest_timeout._get_item_settings(item, marker)


def default_timeout(config: Any) -> float:
    """pytest-timeout's timeout for a test without a marker, as it resolved its options
    (``--timeout``, ``PYTEST_TIMEOUT``, the ini option): 0 or None for none. Private:
    ``config._env_timeout``, set in its ``pytest_configure``."""
    return getattr(config, "_env_timeout", None) or 0


def set_default_timeout(config: Any, seconds: float) -> None:
    """Make ``seconds`` pytest-timeout's timeout for tests without a marker, as if given
    as its own option (it reads ``config._env_timeout`` for each test)."""
    config._env_timeout = seconds


def timeout_method(config: Any) -> str | None:
    """pytest-timeout's resolved ``timeout_method`` (``signal`` or ``thread``), or None
    where it keeps none. Private: ``config._env_timeout_method``."""
    method = getattr(config, "_env_timeout_method", None)
    return method if isinstance(method, str) else None


def timeout_func_only(config: Any) -> bool:
    """Whether pytest-timeout's ``timeout_func_only`` is on. Private:
    ``config._env_timeout_func_only``."""
    return bool(getattr(config, "_env_timeout_func_only", False))


# -- pytest (8.x, 9.x) ----------------------------------------------------------------------


def skip_assertion_rewriting(pluginmanager: Any, package: str) -> bool:
    """Take ``package`` off the modules pytest's assertion rewriter loads (a plugin's
    distribution is rewritten whole); whether it could. There is no public way to opt out:
    ``pluginmanager.rewrite_hook._must_rewrite`` is the set of names it rewrites."""
    marked = getattr(getattr(pluginmanager, "rewrite_hook", None), "_must_rewrite", None)
    if not isinstance(marked, set):
        return False
    marked.discard(package)
    return True


def collect_unraisable(config: Any) -> bool:
    """Have pytest report the unraisable exceptions it collected so far (finalizers that
    raised during ``gc.collect()``) now, as it does after each phase; whether it could.
    Private: ``_pytest.unraisableexception.collect_unraisable`` (pytest 8.4+), which
    needs its stash key (missing under ``-p no:unraisableexception``)."""
    try:
        from _pytest import unraisableexception
    except ImportError:  # pragma: no cover - a pytest without the module
        return False
    collect = getattr(unraisableexception, "collect_unraisable", None)
    key = getattr(unraisableexception, "unraisable_exceptions", None)
    if collect is None or key is None or key not in config.stash:
        return False
    collect(config)
    return True


def fixture_defs(request: Any) -> dict[str, Any]:
    """The fixture definitions active for a test's request, by name (``{}`` where pytest
    keeps them elsewhere). Private: ``FixtureRequest._fixture_defs``."""
    defs = getattr(request, "_fixture_defs", None)
    return defs if isinstance(defs, dict) else {}


def item_fixture_defs(item: Any) -> dict[str, Any]:
    """The fixture definitions an item uses, by name (each a sequence, the last the one
    that applies). Private: ``Item._fixtureinfo.name2fixturedefs``."""
    info = getattr(item, "_fixtureinfo", None)
    defs = getattr(info, "name2fixturedefs", None)
    return dict(defs) if defs else {}


def terminal_column(terminal: Any) -> int:
    """How far the terminal reporter has written into its current line (0: at the start
    of a line, also where unknown). Private: ``TerminalReporter._tw``."""
    column = getattr(getattr(terminal, "_tw", None), "width_of_current_line", 0)
    return column if isinstance(column, int) else 0


def run_test_protocol(item: Any, nextitem: Any) -> list[Any]:
    """pytest's whole protocol for one test (setup, call, teardown) without logging its
    reports: one attempt of a test that runs more than once (gridgate's reruns). Private:
    ``_pytest.runner.runtestprotocol``, which pytest-rerunfailures runs its attempts with
    too."""
    from _pytest.runner import runtestprotocol

    return runtestprotocol(item, nextitem=nextitem, log=False)


def forget_attempt(item: Any) -> None:
    """What the next attempt of a test must not inherit from the last: the test class's
    instance (``self`` of a method, with whatever the attempt set on it; made again on
    access) and the captured output, which each attempt's reports already carry. Private:
    ``Function._instance`` and ``_obj``, ``Item._report_sections``."""
    if item.__dict__.get("_instance") is not None:
        del item.__dict__["_instance"]
        item._obj = None
    sections = getattr(item, "_report_sections", None)
    if isinstance(sections, list):
        sections.clear()


def junit_writer(config: Any) -> Any:
    """pytest's JUnit XML writer of this run (``LogXML``), or None without
    ``--junitxml``; gridgate adds a test's attempts to its ``<testcase>`` through the
    writer's ``node_reporter(report)`` (whose ``append(element)`` adds a child) and takes
    a stray test case out of ``node_reporters_ordered``. Private: ``_pytest.junitxml``'s
    ``xml_key``."""
    try:
        from _pytest.junitxml import xml_key
    except ImportError:  # pragma: no cover - a pytest without it
        return None
    return config.stash.get(xml_key, None)


# -- CPython: asyncio, subprocess, signal, os (3.10 to 3.13) ----------------------------------

_signal: Any = __import__("_signal")
#: ``signal.getsignal`` without its conversion to enums (the C function behind it, in the
#: private ``_signal`` module): about 30 times cheaper, and called once per test.
getsignal: Any = _signal.getsignal


def signal_module() -> Any:
    """The C module behind ``signal`` (``_signal``): ``signal.signal`` calls its
    ``signal`` by attribute, so a wrapper put there sees every handler set from Python."""
    return _signal


def running_loop() -> Any:
    """The event loop running in this thread, or None (``asyncio.get_running_loop`` raises
    instead). Private: ``asyncio.events._get_running_loop``; asyncio not imported: None."""
    events = sys.modules.get("asyncio.events")
    return events._get_running_loop() if events is not None else None


def current_event_loop() -> Any:
    """The event loop set as current in this thread's policy, or None; creates nothing
    (``asyncio.get_event_loop()`` would, and warn). Private: the default policy's
    ``_local._loop``; asyncio not imported: None."""
    events = sys.modules.get("asyncio.events")
    if events is None:
        return None
    policy = getattr(events, "_event_loop_policy", None)
    local = getattr(policy, "_local", None)
    return getattr(local, "_loop", None)


def event_loop_fds(loop: Any) -> list[int]:
    """The descriptors an event loop holds open itself: its selector's and its self-pipe
    (a socket pair). Private: ``BaseSelectorEventLoop._selector``, ``_ssock``, ``_csock``."""
    import contextlib

    fds = []
    selector = getattr(loop, "_selector", None)
    if selector is not None:
        with contextlib.suppress(Exception):
            fds.append(selector.fileno())
    for name in ("_ssock", "_csock"):
        sock = getattr(loop, name, None)
        if sock is not None and sock.fileno() != -1:
            fds.append(sock.fileno())
    return fds


def multiprocessing_children() -> Any:
    """multiprocessing's set of started, unjoined ``Process`` objects (a forkserver starts
    them without a process start in this process), or None where it is not imported.
    Private: ``multiprocessing.process._children``. The leaks gate's per-test snapshot
    reads the same attribute inline, for speed."""
    return getattr(sys.modules.get("multiprocessing.process"), "_children", None)


def finalized_fds() -> dict[int, Any]:
    """Descriptors multiprocessing holds as plain numbers and closes with a finalizer when
    their owner is collected (a started ``Process``'s ``Popen`` keeps its sentinel pipe
    so): ``{fd: owner}``, for owners still alive; empty where multiprocessing is not
    imported. Private: ``multiprocessing.util._finalizer_registry`` and a ``Finalize``'s
    ``_callback``, ``_args`` and ``_weakref`` (CPython 3.9 to 3.14)."""
    util = sys.modules.get("multiprocessing.util")
    registry = getattr(util, "_finalizer_registry", None)
    close_fds = getattr(util, "close_fds", None)
    if not registry or close_fds is None:
        return {}
    found: dict[int, Any] = {}
    for finalizer in list(registry.values()):
        if getattr(finalizer, "_callback", None) is not close_fds:
            continue
        ref = getattr(finalizer, "_weakref", None)
        owner = ref() if ref is not None else None
        if owner is None:
            continue
        for fd in getattr(finalizer, "_args", ()):
            if type(fd) is int:
                found.setdefault(fd, owner)
    return found


def has_unittest_items(items: Iterable[Any]) -> bool:
    """Whether any of ``items`` runs a ``unittest.TestCase`` method (pytest makes its object
    at the test's setup and drops it at its teardown).

    An item's class is its parent's (``item.cls`` walks up the tree in Python, a
    microsecond a test): one item is asked per parent, and the tests of one parent come one
    after another.
    """
    unittest = sys.modules.get("unittest")
    if unittest is None:
        return False
    last: object = None
    for item in items:
        parent = getattr(item, "parent", None)
        if parent is last and parent is not None:
            continue
        last = parent
        cls = getattr(item, "cls", None)
        if isinstance(cls, type) and issubclass(cls, unittest.TestCase):
            return True
    return False


def test_case_object(item: Any) -> Any:
    """The ``unittest.TestCase`` object that ``item`` holds now, or None; creates none
    (pytest 9's ``item.instance`` would, after the teardown). Private: pytest keeps it in
    an attribute of the item (``_instance`` in pytest 9, ``_testcase`` before), looked for
    among the item's attributes, whatever its name."""
    cls = getattr(item, "cls", None)
    if not isinstance(cls, type):
        return None
    for value in vars(item).values():
        if type(value) is cls:
            return value
    return None


def environ_data(environ: Any) -> dict[Any, Any]:
    """A copy of ``os.environ``'s underlying mapping (encoded keys and values, as the
    process's environment holds them), or of the mapping itself. Private:
    ``os._Environ._data``."""
    data = getattr(environ, "_data", None)
    return dict(data) if data is not None else dict(environ)


def process_starters() -> list[tuple[Any, str]]:
    """Where Python's process starts go through, as (owner, attribute) pairs to wrap:
    ``_posixsubprocess.fork_exec`` (subprocess and multiprocessing's spawn/forkserver) and
    ``subprocess._fork_exec``, the same function imported by name (3.11+). Empty where
    there is no ``_posixsubprocess`` (Windows)."""
    try:
        import _posixsubprocess
    except ImportError:
        return []
    import subprocess

    starters: list[tuple[Any, str]] = [(_posixsubprocess, "fork_exec")]
    if getattr(subprocess, "_fork_exec", None) is not None:
        starters.append((subprocess, "_fork_exec"))
    return starters


# -- CPython: threading (3.10 to 3.13) --------------------------------------------------------

#: Threads started outside Python's ``threading`` (by C code) that ``threading`` made up
#: a ``Thread`` for when they called into Python: never a test's to judge.
DummyThread: type[threading.Thread] = threading._DummyThread


def thread_target(thread: threading.Thread) -> Any:
    """The function ``thread`` runs (``target=``), None for a subclass overriding ``run``.
    Private: ``Thread._target``."""
    return getattr(thread, "_target", None)


def thread_has_ended(thread: threading.Thread) -> bool:
    """Whether ``thread`` (from ``threading.enumerate()``) has finished running.

    ``is_alive()`` is False both for a thread that ended and for one still starting: the
    latter has not set its ``_started`` event yet (a private attribute of every CPython
    from 3.10 on; without it, the public answer stands).
    """
    if thread.is_alive():
        return False
    started = getattr(thread, "_started", None)
    return not isinstance(started, threading.Event) or started.is_set()


# Threads released by let_interpreter_exit() where threading's shutdown is replaced
# (CPython 3.13+); weak: a released thread that ends is forgotten.
_released: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


def _shutdown_without_released(original: Any) -> Any:
    """``threading._thread_shutdown`` that waits for every non-daemon thread but those
    released (the original waits for all, on handles Python cannot take back)."""

    def shutdown() -> None:
        current = threading.current_thread()
        while True:
            waiting = [
                thread
                for thread in threading.enumerate()
                if thread is not current
                and not thread.daemon
                and thread not in _released
                and not isinstance(thread, DummyThread)
                and not thread_has_ended(thread)
            ]
            if not waiting:
                break
            for thread in waiting:
                thread.join()
        if not any(thread.is_alive() for thread in _released):
            original()  # nothing released still runs: the interpreter's own wait

    shutdown._gridgate = True  # type: ignore[attr-defined]
    return shutdown


def let_interpreter_exit(thread: threading.Thread) -> bool:
    """Stop the interpreter's exit from waiting for ``thread``; whether it could.

    Python offers no public way to do this once a thread runs, so this uses the private
    state ``threading._shutdown()`` reads, each form guarded:

    * CPython 3.10 to 3.12: the thread's ``_tstate_lock`` in ``threading._shutdown_locks``
      (under ``threading._shutdown_locks_lock``), and ``_daemonic`` (``daemon`` cannot be
      set on a running thread);
    * CPython 3.13+: ``threading._thread_shutdown`` (the C function that waits for the
      handles of every non-daemon thread, looked up by ``_shutdown()`` at exit) is
      replaced, once, by one that joins every other non-daemon thread instead.
    """
    if thread.daemon or thread_has_ended(thread):
        return True
    try:
        lock = getattr(thread, "_tstate_lock", None)
        locks = getattr(threading, "_shutdown_locks", None)
        guard = getattr(threading, "_shutdown_locks_lock", None)
        if lock is not None and isinstance(locks, set) and guard is not None:
            with guard:
                locks.discard(lock)
            thread._daemonic = True  # type: ignore[attr-defined]
            return True
        original = getattr(threading, "_thread_shutdown", None)
        if callable(original):
            if not getattr(original, "_gridgate", False):
                threading._thread_shutdown = _shutdown_without_released(original)  # type: ignore[attr-defined]
            _released.add(thread)
            return True
    except Exception:  # an interpreter whose internals differ: the thread is waited for
        return False
    return False
