"""Every private API of another package that gridgate uses (``pytest_gridgate._compat``),
checked against the installed versions: when a release of pytest, pytest-timeout or
CPython changes one, the test named for it fails here, not a gate somewhere downstream.

Each test asserts what gridgate relies on (a name exists, has this shape, behaves so),
not merely that the wrapper runs.
"""

from __future__ import annotations

import _thread
import asyncio
import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import pytest_timeout  # type: ignore[import-untyped]

from pytest_gridgate import _compat

# -- pytest-timeout ---------------------------------------------------------------------------


def test_pytest_timeout_get_item_settings(pytester: pytest.Pytester) -> None:
    assert callable(getattr(pytest_timeout, "_get_item_settings", None))
    pytester.makeini("[pytest]\naddopts = -p no:gridgate -p no:cacheprovider")
    marked, plain = pytester.getitems(
        """
        import pytest

        @pytest.mark.timeout(5, method="thread", func_only=True)
        def test_marked(): pass

        def test_plain(): pass
        """
    )
    marker = marked.get_closest_marker("timeout")

    settings = _compat.timeout_settings(marked, marker)
    assert (settings.timeout, settings.method, settings.func_only) == (5, "thread", True)
    assert hasattr(settings, "disable_debugger_detection")
    # Without a marker: pytest-timeout's global settings, read from the config.
    assert _compat.timeout_settings(plain).timeout in (None, 0, 0.0)


def test_pytest_timeout_rejects_a_bad_marker(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:gridgate -p no:cacheprovider")
    [item] = pytester.getitems(
        """
        import pytest

        @pytest.mark.timeout("soon")
        def test_bad(): pass
        """
    )
    with pytest.raises((TypeError, ValueError)):
        _compat.timeout_settings(item, item.get_closest_marker("timeout"))


def test_pytest_timeout_env_timeout(pytester: pytest.Pytester) -> None:
    # pytest-timeout resolves its options into config._env_timeout* in pytest_configure.
    config = pytester.parseconfigure("-p", "no:gridgate", "--timeout=7", "--timeout-method=thread")
    assert _compat.default_timeout(config) == 7
    assert _compat.timeout_method(config) == "thread"
    assert _compat.timeout_func_only(config) is False


def test_pytest_timeout_reads_env_timeout_for_each_test(pytester: pytest.Pytester) -> None:
    # gridgate's timeouts.default becomes pytest-timeout's own: it reads config._env_timeout
    # for every test without a marker.
    pytester.makeini("[pytest]\naddopts = -p no:gridgate -p no:cacheprovider")
    [item] = pytester.getitems("def test_plain(): pass")
    _compat.set_default_timeout(item.config, 3)
    assert _compat.timeout_settings(item).timeout == 3
    assert _compat.default_timeout(item.config) == 3


def test_pytest_timeout_env_timeout_func_only(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntimeout_func_only = true")
    config = pytester.parseconfigure("-p", "no:gridgate")
    assert _compat.timeout_func_only(config) is True
    assert _compat.default_timeout(config) == 0


# -- pytest -----------------------------------------------------------------------------------


def test_pytest_assertion_rewriter_must_rewrite(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig("-p", "no:gridgate")
    hook = config.pluginmanager.rewrite_hook
    assert isinstance(hook._must_rewrite, set)
    hook._must_rewrite.add("some_plugin_package")

    assert _compat.skip_assertion_rewriting(config.pluginmanager, "some_plugin_package")
    assert "some_plugin_package" not in hook._must_rewrite


def test_gridgate_is_not_rewritten_in_a_gated_run(pytester: pytest.Pytester) -> None:
    # The reason for the private API: gridgate's modules load with Python's own loader.
    pytester.makepyfile(
        """
        import pytest_gridgate.timeouts.gate as gate

        def test_loader():
            assert type(gate.__spec__.loader).__name__ != "AssertionRewritingHook"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_pytest_collect_unraisable(pytester: pytest.Pytester) -> None:
    from _pytest import unraisableexception

    assert callable(getattr(unraisableexception, "collect_unraisable", None))
    assert getattr(unraisableexception, "unraisable_exceptions", None) is not None
    config = pytester.parseconfigure("-p", "no:gridgate")
    assert _compat.collect_unraisable(config)
    # Switched off: pytest keeps no stash entry, and nothing is called.
    config = pytester.parseconfigure("-p", "no:gridgate", "-p", "no:unraisableexception")
    assert not _compat.collect_unraisable(config)


def test_pytest_runtestprotocol_twice_with_a_fresh_attempt(pytester: pytest.Pytester) -> None:
    # gridgate's reruns: pytest's protocol run twice in one pytest_runtest_protocol, the
    # second attempt with a new class instance and only its own captured output.
    pytester.makeconftest(
        """
        import json
        from pytest_gridgate import _compat

        def pytest_runtest_protocol(item, nextitem):
            first = _compat.run_test_protocol(item, nextitem)
            _compat.forget_attempt(item)
            second = _compat.run_test_protocol(item, nextitem)
            outcomes = [[r.when, r.outcome] for r in first + second]
            output = [r.capstdout for r in second if r.when == "call"]
            with open("attempts.json", "w") as f:
                json.dump({"outcomes": outcomes, "output": output}, f)
            for report in second:
                item.ihook.pytest_runtest_logreport(report=report)
            return True
        """
    )
    pytester.makepyfile(
        """
        COUNT = []

        class TestState:
            seen = False

            def test_fresh(self):
                COUNT.append(1)
                print(f"attempt {len(COUNT)}")
                assert not self.seen, "the instance of the last attempt"
                self.seen = True
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:gridgate", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    import json

    found = json.loads((pytester.path / "attempts.json").read_text())
    assert (
        found["outcomes"] == [["setup", "passed"], ["call", "passed"], ["teardown", "passed"]] * 2
    )
    assert found["output"] == ["attempt 2\n"]


def test_pytest_junitxml_writer(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfigure("-p", "no:gridgate", "--junitxml=out.xml")
    writer = _compat.junit_writer(config)
    assert writer is not None
    assert callable(writer.node_reporter)
    assert isinstance(writer.node_reporters_ordered, list)
    reporter = writer.node_reporter("test_x.py::test_y")
    assert callable(reporter.append)
    assert reporter in writer.node_reporters_ordered
    assert _compat.junit_writer(pytester.parseconfigure("-p", "no:gridgate")) is None


# -- CPython ----------------------------------------------------------------------------------


def test_asyncio_get_running_loop_private() -> None:
    assert _compat.running_loop() is None

    async def inside() -> tuple[object, object]:
        return _compat.running_loop(), asyncio.get_running_loop()

    found, running = asyncio.run(inside())
    assert found is running


def test_posixsubprocess_fork_exec() -> None:
    if sys.platform == "win32":
        assert _compat.process_starters() == []
        return
    starters = _compat.process_starters()
    owners = [owner.__name__ for owner, _ in starters]
    assert owners[0] == "_posixsubprocess"
    if sys.version_info >= (3, 11):
        assert owners == ["_posixsubprocess", "subprocess"]  # imported by name, too
    for owner, name in starters:
        assert callable(getattr(owner, name))
    # subprocess starts its processes through exactly these: count one start.
    calls: list[str] = []
    saved = [(owner, name, getattr(owner, name)) for owner, name in starters]
    try:
        for owner, name, original in saved:

            def counting(*args: object, _original: object = original, _name: str = name) -> object:
                calls.append(_name)
                return _original(*args)  # type: ignore[operator]

            setattr(owner, name, counting)
        subprocess.run([sys.executable, "-c", "pass"], check=True, timeout=120)
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)
    assert len(calls) == 1


def test_threading_dummy_thread() -> None:
    assert issubclass(_compat.DummyThread, threading.Thread)
    seen: list[threading.Thread] = []
    done = threading.Event()

    def foreign() -> None:  # a thread threading did not start
        seen.append(threading.current_thread())
        done.set()

    _thread.start_new_thread(foreign, ())
    assert done.wait(timeout=120)
    assert isinstance(seen[0], _compat.DummyThread)


def test_threading_thread_target_and_started() -> None:
    def work() -> None:
        pass

    thread = threading.Thread(target=work)
    assert _compat.thread_target(thread) is work
    assert not _compat.thread_has_ended(thread)  # not started: not ended either
    thread.start()
    thread.join()
    assert _compat.thread_has_ended(thread)

    class Own(threading.Thread):
        def run(self) -> None:
            pass

    assert _compat.thread_target(Own()) is None


def test_threading_shutdown_lets_the_interpreter_exit() -> None:
    # A non-daemon thread blocked for ever would keep the interpreter from exiting; once
    # released it does not. (The outer --timeout catches an interpreter that waits.)
    script = textwrap.dedent(
        """
        import threading
        from pytest_gridgate import _compat

        blocked = threading.Thread(target=threading.Event().wait, name="blocked")
        blocked.start()
        assert _compat.let_interpreter_exit(blocked)
        print("released", flush=True)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "released\n"


def test_pytest_fixture_defs_of_a_request_and_an_item(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider")
    pytester.makeconftest(
        """
        import pytest
        from pytest_gridgate import _compat

        @pytest.fixture(scope="module")
        def shared():
            return 1

        @pytest.fixture
        def own(request, shared):
            defs = _compat.fixture_defs(request)
            assert defs["shared"].scope == "module"
            return 2
        """
    )
    pytester.makepyfile(
        """
        from pytest_gridgate import _compat

        def test_uses(request, own):
            defs = _compat.item_fixture_defs(request.node)
            assert sorted(defs) == ["own", "shared"]  # "request" is no fixturedef
            assert defs["shared"][-1].scope == "module"
            assert defs["own"][-1].scope == "function"
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:gridgate")
    result.assert_outcomes(passed=1)


def test_pytest_terminal_writer_column(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfigure("-p", "no:gridgate")
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    terminal.ensure_newline()
    assert _compat.terminal_column(terminal) == 0
    terminal.write("...")
    assert _compat.terminal_column(terminal) == 3
    terminal.write("\n")
    assert _compat.terminal_column(object()) == 0


def test_asyncio_policy_current_loop() -> None:
    assert _compat.current_event_loop() is None or not _compat.current_event_loop().is_running()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        assert _compat.current_event_loop() is loop
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    assert _compat.current_event_loop() is None


def test_asyncio_selector_loop_fds() -> None:
    loop = asyncio.SelectorEventLoop()
    try:
        fds = _compat.event_loop_fds(loop)
        assert len(fds) == 3  # the selector (epoll, kqueue...) and the self-pipe pair
        for fd in fds:
            os.fstat(fd)  # open
    finally:
        loop.close()
    assert _compat.event_loop_fds(loop) == []


def test_multiprocessing_children() -> None:
    import multiprocessing
    import multiprocessing.process

    before = set(_compat.multiprocessing_children() or ())
    ctx = multiprocessing.get_context("spawn" if sys.platform != "linux" else "fork")
    proc = ctx.Process(target=time.sleep, args=(0,))
    proc.start()
    try:
        assert proc in (_compat.multiprocessing_children() or ())
        assert proc not in before
    finally:
        proc.join(timeout=120)
    multiprocessing.active_children()  # joins the finished ones: they leave the set
    assert proc not in (_compat.multiprocessing_children() or ())


def test_finalized_fds() -> None:
    """A started Process's Popen keeps its sentinel pipe as numbers in a finalizer."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn" if sys.platform != "linux" else "fork")
    proc = ctx.Process(target=time.sleep, args=(0,))
    proc.start()
    proc.join(timeout=120)
    held = _compat.finalized_fds()
    popen = proc._popen  # type: ignore[attr-defined]
    assert proc.sentinel in held
    assert held[proc.sentinel] is popen
    del proc, popen, held
    gc.collect()


def test_test_case_object() -> None:
    """The unittest object an item holds is found among its attributes, and only while it
    holds it; an item of a plain test has none."""
    import unittest

    class Case(unittest.TestCase):
        def test_it(self) -> None:
            pass

    class Item:  # what the functions read of a pytest item: its class and attributes
        cls = Case
        name = "test_it"

        def __init__(self) -> None:
            self._instance: object = Case("test_it")

    item = Item()
    assert _compat.has_unittest_items([item])
    assert _compat.test_case_object(item) is item._instance
    del item._instance  # pytest 9's teardown
    assert _compat.test_case_object(item) is None

    class Plain:
        cls = None

    assert not _compat.has_unittest_items([Plain(), Plain()])
    assert _compat.has_unittest_items([Plain(), item])
    assert _compat.test_case_object(Plain()) is None


def test_test_case_object_of_a_real_item(pytester: pytest.Pytester) -> None:
    """pytest's own unittest item: its object is found between setup and teardown."""
    pytester.makepyfile(
        """
        import unittest

        class Case(unittest.TestCase):
            def test_it(self):
                pass
        """
    )
    pytester.makeconftest(
        """
        import pytest
        from pytest_gridgate import _compat

        seen = []

        @pytest.hookimpl(wrapper=True, tryfirst=True)
        def pytest_runtest_teardown(item):
            seen.append(_compat.test_case_object(item) is not None)
            result = yield
            seen.append(_compat.test_case_object(item) is not None)
            return result

        def pytest_sessionfinish(session):
            with open("seen.txt", "w") as file:
                file.write(repr(seen))
        """
    )
    pytester.runpytest_inprocess("-p", "no:gridgate").assert_outcomes(passed=1)
    # Held before the teardown hooks run, no longer after them.
    assert (pytester.path / "seen.txt").read_text() == "[True, False]"


def test_os_environ_data() -> None:
    data = _compat.environ_data(os.environ)
    assert data  # the encoded mapping: bytes on POSIX
    key = next(iter(data))
    assert os.fsdecode(key) in os.environ
    assert _compat.environ_data({"A": "1"}) == {"A": "1"}


def test_signal_c_module() -> None:
    module = _compat.signal_module()
    assert module.__name__ == "_signal"
    assert _compat.getsignal(signal.SIGINT) is signal.getsignal(signal.SIGINT) or (
        _compat.getsignal(signal.SIGINT) == int(signal.getsignal(signal.SIGINT))  # type: ignore[arg-type]
    )
    # signal.signal goes through the C module's attribute: a wrapper there sees it.
    seen: list[int] = []
    original = module.signal

    def wrapper(signum: int, handler: object) -> object:
        seen.append(signum)
        return original(signum, handler)

    module.signal = wrapper
    try:
        previous = signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        signal.signal(signal.SIGUSR1, previous)
    finally:
        module.signal = original
    assert seen == [signal.SIGUSR1, signal.SIGUSR1]
