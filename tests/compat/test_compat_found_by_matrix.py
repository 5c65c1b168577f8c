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
