"""Process-wide bookkeeping that makes the per-test checks cheap.

Asking the system what a test changed costs a system call per question and per test.
Most of what the checks watch can only change through a handful of Python functions;
wrapping those tells the checks *whether* anything changed, for free when nothing did.
Each piece of state lives in a one-element list (a cell), and the checks read it through a
``functools.partial`` of ``operator.getitem``: a probe that runs in C, without a Python
frame, twice per test.

* **Process starts**, a counter. It counts every ``fork()`` (``os.register_at_fork``:
  os.fork, os.forkpty, os.spawn*, pty, multiprocessing's fork start method) and every call
  of the functions that start a process without forking the interpreter
  (``_posixsubprocess.fork_exec`` behind subprocess and multiprocessing's spawn/forkserver,
  ``os.posix_spawn[p]``, ``os.system``). Where those functions do not exist (Windows) an
  audit hook counts the matching audit events instead. The wrappers are preferred because
  an audit hook runs for every audit event of the process: some 50 per test inside pytest.
  A child started from a thread other than the main one is noted with that thread's
  number (:func:`spawning_thread`): a process that a leaked thread restarts is that
  thread's test's, not the test during which it restarted.
* **Thread starts**, a counter. ``threading.Thread.start`` stamps each thread with its
  number, the number of the thread that started it, and where it was started, so a leaked
  thread is reported with its origin and a fixture's thread's threads are the fixture's;
  the chain of starters is kept after the threads end (:func:`lineage`), so a restart
  chain is followed to the thread a test left running.
* **Environment changes**, a counter moved by ``os.putenv`` and ``os.unsetenv``, which
  ``os.environ`` calls for every change, and where each variable was last changed.
  pytest's own ``PYTEST_CURRENT_TEST``, set and removed around every test phase, does not
  move it.
* **The working directory**, kept by ``os.chdir`` and ``os.fchdir``.
* **Signal handlers**: the handlers of the watched signals, kept by ``_signal.signal``
  (behind ``signal.signal``), the only way Python-level handlers change.

A change made around these functions (C code calling ``chdir()`` itself, a write straight
into ``os.environ._data``) is not seen by the cheap tier; the deep tier of a check reads the
real state whenever it runs.

All of this is process-wide by nature (neither an audit hook nor ``register_at_fork`` can
be removed), so it lives in this module and is installed once per process, however many
pytest sessions run in it (pytester). Per-session state stays in the plugin object.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import operator
import os
import signal
import sys
import threading
from collections.abc import Callable, Hashable
from typing import Any

from pytest_gridgate._compat import getsignal as _compat_getsignal
from pytest_gridgate._compat import process_starters
from pytest_gridgate._compat import signal_module as c_signal_module

_SPAWN_EVENTS = frozenset(
    {
        "subprocess.Popen",
        "os.fork",
        "os.forkpty",
        "os.posix_spawn",
        "os.posix_spawnp",
        "os.spawn",
        "os.system",
        "pty.spawn",
    }
)

#: Signals whose handlers the ``signals`` check watches. SIGALRM has a cell of its own:
#: pytest-timeout sets it around every test.
_SIGNAL_NAMES = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"]
_SIGNAL_NAMES += ["SIGCHLD", "SIGPIPE"]
WATCHED_SIGNALS = tuple(getattr(signal, name) for name in _SIGNAL_NAMES if hasattr(signal, name))
SIGALRM: int | None = getattr(signal, "SIGALRM", None)

# The cells. Module-level lists instead of ``global`` statements keep the wrappers cheap.
_spawns = [0]
_thread_starts = [0]
_environ_changes = [0]
_cwd = [""]
_handlers: list[tuple[Any, ...]] = [()]
_alarm_handler: list[Any] = [None]
_installed = [False]


def _probe(cell: list[Any]) -> Callable[[], Any]:
    """A zero-argument callable, implemented in C, that returns the cell's value."""
    return functools.partial(operator.getitem, cell, 0)


spawn_count = _probe(_spawns)
thread_start_count = _probe(_thread_starts)
environ_change_count = _probe(_environ_changes)
current_cwd = _probe(_cwd)
watched_handlers = _probe(_handlers)
alarm_handler = _probe(_alarm_handler)

# The C function behind signal.getsignal, without its conversion to enums: 30 times cheaper.
getsignal = _compat_getsignal


def read_cwd() -> str:
    """The real working directory (a system call)."""
    try:
        return os.getcwd()
    except FileNotFoundError:  # the directory was removed under us
        return "<removed directory>"


def read_handlers() -> tuple[Any, ...]:
    """The real handlers of the watched signals."""
    return tuple(map(getsignal, WATCHED_SIGNALS))


def _refresh_handlers() -> None:
    handlers = read_handlers()
    if handlers != _handlers[0]:  # the same object while unchanged: compared by identity
        _handlers[0] = handlers
    _alarm_handler[0] = getsignal(SIGALRM) if SIGALRM is not None else None


def _count() -> None:
    _spawns[0] += 1


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event in _SPAWN_EVENTS:
        _spawns[0] += 1


def _original(function: Any) -> Any:
    """``function`` without gridgate's wrappers.

    pytester's in-process runs drop the modules first imported during a run from
    ``sys.modules``, so the next run imports this module afresh: its wrappers must replace
    the dropped module's, which keep the dropped module's cells.
    """
    while getattr(function, "_gridgate", False):
        function = function.__wrapped__
    return function


def _marked(wrapper: Any) -> Any:
    wrapper._gridgate = True
    return wrapper


#: Each thread started since install(), by its number: its leak key's id, where it was
#: started and its starter's number, still known after it ended (a watcher thread that
#: restarts a process and ends); and the number of the last thread started with each id.
_threads: dict[int, tuple[int, str, int]] = {}
_numbers: dict[int, int] = {}
#: The start number of the thread that started each child, by pid, for children started
#: from a thread other than the main one (those started before install(): number 0).
_spawned_by: dict[int, int] = {}
_current_thread = threading.current_thread


#: Children started by ``os.fork`` or ``os.forkpty`` (pexpect's pty children), by pid, as
#: long as no other start reused the pid: no ``subprocess.Popen`` owns them.
_forked: set[int] = set()


def _note_child(result: Any, forked: bool) -> None:
    """Note which thread started the child whose pid is ``result`` (or ``result[0]``), and
    whether it was forked."""
    pid = result[0] if type(result) is tuple else result
    if type(pid) is not int or pid <= 0:
        return  # the child's side of a fork, or no pid
    if forked:
        _forked.add(pid)
    else:
        _forked.discard(pid)
    number = getattr(_current_thread(), "_gridgate_start", 0)
    if number:
        _spawned_by[pid] = number


def _counting(
    function: Any, count: bool = True, returns_pid: bool = True, forks: bool = False
) -> Any:
    """``function``, which starts a process, counting the start (unless ``register_at_fork``
    does) and noting which thread started the child whose pid it returns, and whether it
    forked the interpreter (``forks``)."""
    function = _original(function)

    @functools.wraps(function)
    def counting(*args: Any, **kwargs: Any) -> Any:
        if count:
            _spawns[0] += 1
        result = function(*args, **kwargs)
        if returns_pid:
            _note_child(result, forks)
        return result

    return _marked(counting)


#: Set and removed by pytest around every test phase: not a change of the test's.
PER_PHASE_VARIABLE = "PYTEST_CURRENT_TEST"
# os.environ passes the key encoded on POSIX. Compared only with a key of the same type:
# comparing bytes with str is slow, and an error under ``python -bb``.
_PER_PHASE_KEY: Any = os.fsencode(PER_PHASE_VARIABLE) if os.name == "posix" else PER_PHASE_VARIABLE
_PER_PHASE_TYPE = type(_PER_PHASE_KEY)


#: Where each variable was last set or removed (``file:line``), by its raw key: the place to
#: fix a leaked variable, and what groups one cause's findings across many tests.
_environ_sites: dict[Any, str] = {}
# Frames of the mapping machinery between the code that changed a variable and putenv(),
# by their code's file name (``<frozen os>`` where the module is frozen, not its __file__).
_MAPPING_FILES = frozenset(
    {
        os._Environ.__setitem__.__code__.co_filename,
        importlib.import_module("_collections_abc").MutableMapping.update.__code__.co_filename,
        contextlib.contextmanager.__code__.co_filename,
    }
)


def _caller_site(depth: int, skipped: frozenset[str]) -> str | None:
    """``file:line`` of the frame ``depth`` frames up from this one, or the first frame
    above it that is not in one of the ``skipped`` files."""
    try:
        frame: Any = sys._getframe(depth)
    except ValueError:  # called from the bottom of a stack: no site
        return None
    while frame.f_back is not None and frame.f_code.co_filename in skipped:
        frame = frame.f_back
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _note_setter(key: Any) -> None:
    """Record the caller of the os.environ operation that changed ``key``."""
    site = _caller_site(3, _MAPPING_FILES)
    if site is not None:
        _environ_sites[key] = site


#: Where the working directory (key ``("cwd",)``) and each watched signal's handler (key
#: ``("signal", signum)``) were last changed: the keys of the checks' findings.
_sites: dict[Any, str] = {}
_WRAPPER_FILES = frozenset(
    {signal.signal.__code__.co_filename, contextlib.contextmanager.__code__.co_filename}
)


def _note_cwd_site(*args: Any) -> None:
    site = _caller_site(3, _WRAPPER_FILES)
    if site is not None:
        _sites["cwd",] = site


def _note_signal_site(signum: Any = None, *args: Any) -> None:
    # Not SIGALRM: pytest-timeout sets it around every test, and it is not watched.
    if signum != SIGALRM:
        site = _caller_site(3, _WRAPPER_FILES)
        if site is not None:
            _sites["signal", signum] = site


# Two wrappers of fixed arity rather than one with ``*args``: pytest calls them four times
# per test (its own variable: counted and located only for the others).
def _counting_putenv(putenv: Any) -> Any:
    putenv = _original(putenv)

    @functools.wraps(putenv)
    def counting_putenv(key: Any, value: Any) -> None:
        if type(key) is not _PER_PHASE_TYPE or key != _PER_PHASE_KEY:
            _environ_changes[0] += 1
            _note_setter(key)
        putenv(key, value)

    return _marked(counting_putenv)


def _counting_unsetenv(unsetenv: Any) -> Any:
    unsetenv = _original(unsetenv)

    @functools.wraps(unsetenv)
    def counting_unsetenv(key: Any) -> None:
        if type(key) is not _PER_PHASE_TYPE or key != _PER_PHASE_KEY:
            _environ_changes[0] += 1
            _note_setter(key)
        unsetenv(key)

    return _marked(counting_unsetenv)


def _refresh_cwd() -> None:
    _cwd[0] = read_cwd()


def _refreshing(
    function: Any, refresh: Callable[[], None], note: Callable[..., None] | None = None
) -> Any:
    """``function``, followed by ``refresh()`` of the cell it may have changed (and
    ``note(*args)``, which records where the change was made)."""
    function = _original(function)

    @functools.wraps(function)
    def refreshing(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        finally:
            refresh()
            if note is not None:
                note(*args)

    return _marked(refreshing)


def _wrap_process_starters() -> bool:
    """Count calls of the functions that start processes; False where they do not exist."""
    starters = process_starters()
    if not starters:
        return False
    for owner, name in starters:
        setattr(owner, name, _counting(getattr(owner, name)))
    for name in ("posix_spawn", "posix_spawnp", "system"):
        if hasattr(os, name):
            setattr(os, name, _counting(getattr(os, name), returns_pid=name != "system"))
    # Counted by register_at_fork; wrapped for the child's pid.
    for name in ("fork", "forkpty"):
        if hasattr(os, name):
            setattr(os, name, _counting(getattr(os, name), count=False, forks=True))
    return True


def _start_site() -> str:
    frame = sys._getframe(2)
    # Skip Thread subclasses' own start() overrides and threading's internals.
    while frame.f_back is not None and (
        frame.f_code.co_name == "start" or frame.f_code.co_filename == threading.__file__
    ):
        frame = frame.f_back
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _record_start(start: Any) -> Any:
    start = _original(start)

    @functools.wraps(start)
    def start_and_record(self: threading.Thread) -> None:
        _thread_starts[0] += 1
        with contextlib.suppress(Exception):  # a frozen or odd Thread subclass
            self._gridgate_start = _thread_starts[0]  # type: ignore[attr-defined]
            self._gridgate_started_at = _start_site()  # type: ignore[attr-defined]
            # The starting thread's number: a thread started by a fixture's thread is the
            # fixture's, even when it starts after the fixture's setup returned.
            parent = self._gridgate_parent = start_number(threading.current_thread())  # type: ignore[attr-defined]
            # Kept past the thread's end: what it started is known by its number.
            _threads[_thread_starts[0]] = (id(self), self._gridgate_started_at, parent)  # type: ignore[attr-defined]
            _numbers[id(self)] = _thread_starts[0]
        start(self)

    return _marked(start_and_record)


def install() -> None:
    """Install the wrappers (or the audit hook), once per process."""
    if _installed[0]:
        return
    _installed[0] = True
    if hasattr(os, "register_at_fork") and _wrap_process_starters():
        os.register_at_fork(before=_count)
    else:
        sys.addaudithook(_audit)
    threading.Thread.start = _record_start(threading.Thread.start)  # type: ignore[method-assign]
    os.putenv = _counting_putenv(os.putenv)
    if hasattr(os, "unsetenv"):
        os.unsetenv = _counting_unsetenv(os.unsetenv)
    _refresh_cwd()
    os.chdir = _refreshing(os.chdir, _refresh_cwd, _note_cwd_site)
    if hasattr(os, "fchdir"):
        os.fchdir = _refreshing(os.fchdir, _refresh_cwd, _note_cwd_site)
    signal_module = c_signal_module()
    signal_module.signal = _refreshing(signal_module.signal, _refresh_handlers, _note_signal_site)
    _refresh_handlers()


def started_at(thread: threading.Thread) -> str | None:
    """Where ``thread`` was started (``file:line``), when it started after install()."""
    return getattr(thread, "_gridgate_started_at", None)


def start_number(thread: threading.Thread) -> int:
    """The thread's place among the threads started since install(); 0 before it."""
    return int(getattr(thread, "_gridgate_start", 0))


def parent_number(thread: threading.Thread) -> int:
    """The start number of the thread that started ``thread`` (0: the main thread, or a
    thread started before install())."""
    return int(getattr(thread, "_gridgate_parent", 0))


def site_of(key: Any) -> str | None:
    """Where the working directory (``("cwd",)``) or a watched signal's handler
    (``("signal", signum)``) was last changed (``file:line``)."""
    return _sites.get(key)


def environ_site(key: Any) -> str | None:
    """Where the variable of raw key ``key`` was last set or removed (``file:line``)."""
    return _environ_sites.get(key)


def spawning_thread(pid: int) -> int:
    """The start number of the thread that started child ``pid`` (0: the main thread, a
    thread started before install(), or not known)."""
    return _spawned_by.get(pid, 0)


def forked(pid: int) -> bool:
    """Whether child ``pid`` was started by ``os.fork`` or ``os.forkpty`` (no
    ``subprocess.Popen`` owns it); False when not known (started before install())."""
    return pid in _forked


def thread_started(number: int) -> tuple[tuple[str, int], str] | None:
    """The leak key (``("thread", id)``) of the thread of start number ``number``, and where
    it was started; whether it still runs or not (None: not started since install())."""
    known = _threads.get(number)
    return (("thread", known[0]), known[1]) if known is not None else None


def lineage(key: Any) -> list[tuple[Hashable, int]]:
    """The thread of leak key ``key`` and the threads that started it, nearest first, each
    as (leak key, start number), up to the first started by the main thread or before
    install(): a restart chain (a watcher starting its successor) is followed to its root."""
    if type(key) is not tuple or len(key) != 2 or key[0] != "thread":
        return []
    chain: list[tuple[Hashable, int]] = []
    number = _numbers.get(key[1], 0)
    while number and (known := _threads.get(number)) is not None:  # a starter starts earlier: ends
        chain.append((("thread", known[0]), number))
        number = known[2]
    return chain
