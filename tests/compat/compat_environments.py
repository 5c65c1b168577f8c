"""The compatibility matrix: one environment per widely used pytest plugin.

Each environment is gridgate plus one neighbour plugin (``packages``, installed by the
noxfile), run through the same gated-behaviour tests (``test_compat_gates.py``) with the
plugin switched on the way its users switch it on (``args``, ``ini``), one clean test of
the plugin's own features that must pass without a leak (``plugin_test``), and what
gridgate must say about the plugin's settings (``neighbours``: beginnings of the start-up
lines, see ``pytest_gridgate/neighbours.py``). ``configure`` is the advice of the
generated table, ``docs/compatibility.md``.

Standard library only: the noxfile imports this module too.
"""

from __future__ import annotations

from typing import NamedTuple

#: The environment variable naming the environment a run of the compat tests is in. Not a
#: ``GRIDGATE_*`` name: the suite runs under its own gate, for which an unknown one is a
#: usage error.
ENV_VARIABLE = "COMPAT_ENVIRONMENT"
#: gridgate on its own: the normal suite runs the gated-behaviour tests in it.
ALONE = "alone"


class Environment(NamedTuple):
    plugin: str  # the distribution named in the table
    packages: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    ini: tuple[str, ...] = ()  # lines of [tool.pytest.ini_options]
    files: tuple[tuple[str, str], ...] = ()  # extra files of the inner project
    plugin_test: str = ""
    neighbours: tuple[str, ...] = ()
    # A variable in [tool.gridgate.env] that this plugin also sets, and whose value wins.
    env_value_from_plugin: bool = False
    xdist: bool = False
    configure: str = "nothing"


DJANGO_SETTINGS = """
SECRET_KEY = "compat-tests-only"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True
"""

ENVIRONMENTS: dict[str, Environment] = {
    ALONE: Environment("pytest-gridgate (alone)"),
    "rerunfailures": Environment(
        "pytest-rerunfailures",
        ("pytest-rerunfailures",),
        plugin_test="""
            import pytest

            @pytest.mark.flaky(reruns=2)
            def test_plugin_flaky_marker():
                pass
        """,
        configure=(
            "nothing when merely installed; with `--reruns N` a test that leaks or times out "
            "runs again (each attempt with its own timeout and its own findings) and a clean "
            "later attempt passes the run: keep reruns off in the gated run, or read the "
            "leaks and timeouts verdicts"
        ),
    ),
    "rerunfailures-reruns": Environment(
        "pytest-rerunfailures (--reruns 1)",
        ("pytest-rerunfailures",),
        args=("--reruns", "1"),
        neighbours=("--reruns 1: a test that leaks or times out runs again",),
        configure="as above",
    ),
    "flaky": Environment(
        "flaky",
        ("flaky",),
        # flaky keeps the test's object past pytest's teardown (in a local of its
        # pytest_runtest_protocol): what a unittest object holds must not be a leak.
        plugin_test="""
            import multiprocessing
            import unittest

            from flaky import flaky


            class TestServed(unittest.TestCase):
                def setUp(self):
                    self.server = multiprocessing.get_context("fork").Process(target=self.serve)
                    self.server.start()

                def serve(self):
                    pass

                def tearDown(self):
                    self.server.join(30)

                @flaky(max_runs=2)
                def test_plugin_flaky_decorator(self):
                    self.log = open(__file__)
        """,
    ),
    "cov": Environment(
        "pytest-cov",
        ("pytest-cov",),
        args=("--cov=.", "--cov-report="),
    ),
    "asyncio": Environment(
        "pytest-asyncio",
        ("pytest-asyncio",),
        plugin_test="""
            import asyncio
            import pytest

            @pytest.mark.asyncio
            async def test_plugin_async():
                await asyncio.sleep(0)
        """,
    ),
    "mock": Environment(
        "pytest-mock",
        ("pytest-mock",),
        plugin_test="""
            import os

            def test_plugin_mocker(mocker, tmp_path):
                mocker.patch.dict(os.environ, {"GG_COMPAT_MOCKED": "1"})
                mocker.patch("os.getcwd", return_value=str(tmp_path))
                assert os.getcwd() == str(tmp_path)
        """,
    ),
    "randomly": Environment(
        "pytest-randomly",
        ("pytest-randomly",),
        configure="nothing (random order and reseeding change no verdict)",
    ),
    "hypothesis": Environment(
        "hypothesis",
        ("hypothesis",),
        plugin_test="""
            from hypothesis import given, settings, strategies as st

            @settings(max_examples=20, deadline=None)
            @given(st.integers())
            def test_plugin_hypothesis(n):
                assert n == n
        """,
    ),
    "pytest-env": Environment(
        "pytest-env",
        ("pytest-env",),
        ini=('env = ["GG_COMPAT_SHARED=from-pytest-env", "GG_COMPAT_PYTEST_ENV=1"]',),
        plugin_test="""
            import os

            def test_plugin_env_set():
                assert os.environ["GG_COMPAT_PYTEST_ENV"] == "1"
        """,
        neighbours=("GG_COMPAT_SHARED set by pytest-env before gridgate",),
        env_value_from_plugin=True,
        configure=(
            "a name in both pytest-env and `[tool.gridgate.env]` takes pytest-env's value: "
            "keep each name in one of the two, or put it in `[tool.gridgate.env_force]`"
        ),
    ),
    "timeout-options": Environment(
        "pytest-timeout (its own ini options)",
        (),  # a dependency of gridgate
        ini=("timeout = 30", "session_timeout = 900"),
        neighbours=(
            "ini option timeout = 30 replaces timeouts.default",
            "ini option session_timeout = 900 and timeouts.session",
        ),
        configure=(
            "set timeouts in `[tool.gridgate.timeouts]` only: pytest-timeout's `timeout` "
            "replaces `timeouts.default`, `timeout_method = thread` ends the run at the "
            "first timeout, `timeout_func_only` leaves fixtures unbounded"
        ),
    ),
    "xdist": Environment("pytest-xdist (-n 2)", (), args=("-n", "2"), xdist=True),
    "xdist-loadscope": Environment(
        "pytest-xdist (-n 2 --dist loadscope)",
        (),
        args=("-n", "2", "--dist", "loadscope"),
        xdist=True,
    ),
    "xdist-worksteal": Environment(
        "pytest-xdist (-n 2 --dist worksteal)",
        (),
        args=("-n", "2", "--dist", "worksteal"),
        xdist=True,
    ),
    "django": Environment(
        "pytest-django",
        ("pytest-django", "django"),
        ini=('DJANGO_SETTINGS_MODULE = "compat_settings"', 'pythonpath = ["."]'),
        files=(("compat_settings.py", DJANGO_SETTINGS),),
        plugin_test="""
            def test_plugin_settings(settings):
                settings.USE_TZ = False
                assert settings.SECRET_KEY == "compat-tests-only"
        """,
    ),
    "anyio-trio": Environment(
        "anyio + pytest-trio",
        ("anyio", "pytest-trio", "trio"),
        plugin_test="""
            import anyio
            import pytest
            import trio

            @pytest.mark.anyio
            async def test_plugin_anyio():
                await anyio.sleep(0)

            @pytest.mark.trio
            async def test_plugin_trio():
                await trio.sleep(0)
        """,
    ),
    "memray": Environment("pytest-memray", ("pytest-memray",), args=("--memray",)),
    "split": Environment(
        "pytest-split",
        ("pytest-split",),
        args=("--splits", "1", "--group", "1"),
    ),
    "benchmark": Environment(
        "pytest-benchmark",
        ("pytest-benchmark",),
        plugin_test="""
            def test_plugin_benchmark(benchmark):
                benchmark(sum, range(100))
        """,
    ),
    "html": Environment("pytest-html", ("pytest-html",), args=("--html=report.html",)),
    "sugar": Environment("pytest-sugar", ("pytest-sugar",)),
    "instafail": Environment("pytest-instafail", ("pytest-instafail",), args=("--instafail",)),
    "repeat": Environment(
        "pytest-repeat",
        ("pytest-repeat",),
        plugin_test="""
            import pytest

            @pytest.mark.repeat(3)
            def test_plugin_repeated():
                pass
        """,
    ),
    "xprocess": Environment(
        "pytest-xprocess",
        ("pytest-xprocess",),
        plugin_test="""
            import sys
            import pytest
            from xprocess import ProcessStarter

            @pytest.fixture(scope="module")
            def server(xprocess):
                class Starter(ProcessStarter):
                    pattern = "ready"
                    args = [sys.executable, "-c",
                            "import time; print('ready', flush=True); time.sleep(600)"]
                    timeout = 60

                xprocess.ensure("compat-server", Starter)
                yield
                xprocess.getinfo("compat-server").terminate()

            def test_plugin_xprocess(server):
                pass
        """,
        configure=(
            "terminate what `xprocess.ensure` started in the fixture's teardown "
            "(`xprocess.getinfo(name).terminate()`): a process left running is a leak; its "
            "log, kept open in pytest's cache directory until pytest exits, is not"
        ),
    ),
}
