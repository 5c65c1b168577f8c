"""What the compatibility matrix found, reproduced without the neighbour plugin.

pytest-django's autouse class-scoped fixture: a higher-scoped fixture first set up during a
test with the ``gridgate_env`` marker. The fixture's leak baseline held the marker's
variable, so restoring it after the test was reported as the fixture's leak, and the
"cleanup" set the variable again for every later test.
"""

from __future__ import annotations

import json

import pytest


def test_marker_variables_are_no_leak_of_a_higher_scoped_fixture(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyprojecttoml('[tool.gridgate.leaks]\naction = "fail"\n')
    pytester.makepyfile(
        test_marked="""
        import os
        import pytest

        SEEN = []

        @pytest.fixture(scope="module", autouse=True)
        def module_resource():
            SEEN.append(os.environ.get("GG_MARKED"))
            yield

        @pytest.mark.gridgate_env(GG_MARKED="1")
        def test_marked():
            assert os.environ["GG_MARKED"] == "1"

        def test_after():
            assert "GG_MARKED" not in os.environ
            # Set up during the marked test, the module's fixture did not see its value.
            assert SEEN == [None]
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:randomly", "--gridgate-report", "r.json"
    )
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["leaks"] == [], result.stdout.str()
    result.assert_outcomes(passed=2)


def test_files_in_pytest_cache_are_plugin_state(pytester: pytest.Pytester) -> None:
    """pytest-xprocess keeps each process's log (under pytest's cache directory) open
    until pytest exits, opened by the fixture that calls ``xprocess.ensure``: not that
    fixture's leak. A file kept open anywhere else still is."""
    pytester.makepyprojecttoml('[tool.gridgate.leaks]\naction = "fail"\n')
    pytester.makeconftest(
        """
        import pytest

        LOGS = []

        def pytest_unconfigure(config):
            for log in LOGS:
                log.close()

        @pytest.fixture(scope="module")
        def server(request):
            logs = request.config.cache.mkdir("server-logs")
            LOGS.append(open(logs / "server.log", "a"))
            yield

        @pytest.fixture(scope="module")
        def elsewhere(tmp_path_factory):
            LOGS.append(open(tmp_path_factory.mktemp("logs") / "kept.log", "a"))
            yield
        """
    )
    pytester.makepyfile(
        test_server="def test_server(server):\n    pass\n",
        test_elsewhere="def test_elsewhere(elsewhere):\n    pass\n",
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly", "--gridgate-report", "r.json")
    report = json.loads((pytester.path / "r.json").read_text())
    # A fixture's leak names the test during whose teardown it was finalized, and the
    # fixture in its own field (issue 14 item 1).
    owners = [(entry["nodeid"], entry["fixture"], entry["kind"]) for entry in report["leaks"]]
    assert owners == [("test_elsewhere.py::test_elsewhere", "elsewhere", "fd")], result.stdout.str()
