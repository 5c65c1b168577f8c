"""Env defaults: applied before conftest import, kept when already set, forced, the marker."""

from __future__ import annotations

import json
import os

import pytest

PYPROJECT = """
[tool.gridgate.env]
GG_TEST_DB = "sqlite://"
GG_TEST_KEEP = "from-config"
GG_TEST_BOTH = "from-env-table"

[tool.gridgate.env_force]
GG_TEST_FORCED = "forced"
GG_TEST_BOTH = "from-env-force"

[tool.gridgate.profiles.ci]
env = { GG_TEST_DB = "postgresql://ci" }
"""

CONFTEST = """
import os

NAMES = ("GG_TEST_DB", "GG_TEST_KEEP", "GG_TEST_FORCED", "GG_TEST_BOTH")
SEEN = {name: os.environ.get(name) for name in NAMES}
"""

TESTS = """
import os

import pytest

import conftest


def test_conftest_saw_the_defaults():
    assert conftest.SEEN == {
        "GG_TEST_DB": os.environ["EXPECTED_DB"],
        "GG_TEST_KEEP": "mine",
        "GG_TEST_FORCED": "forced",
        "GG_TEST_BOTH": "from-env-force",
    }


def test_applied_once_by_the_controller():
    # Under xdist the worker inherits the controller's environment instead of applying
    # the defaults again; in a single process it applied them itself.
    expected = os.getppid() if os.environ.get("PYTEST_XDIST_WORKER") else os.getpid()
    assert os.environ["_GRIDGATE_ENV_APPLIED_BY"] == str(expected)


@pytest.mark.gridgate_env(GG_TEST_DB="marked", GG_TEST_NEW="new", GG_TEST_KEEP=None)
def test_marker_sets_for_one_test(request):
    assert os.environ["GG_TEST_DB"] == "marked"
    assert os.environ["GG_TEST_NEW"] == "new"
    assert "GG_TEST_KEEP" not in os.environ


@pytest.fixture
def db_seen_by_fixture():
    return os.environ["GG_TEST_DB"]


@pytest.mark.gridgate_env(GG_TEST_DB="marked")
def test_fixtures_see_the_marker(db_seen_by_fixture):
    assert db_seen_by_fixture == "marked"


@pytest.mark.gridgate_env(GG_TEST_CLASS="class", GG_TEST_DB="class")
class TestClassMarker:
    @pytest.mark.gridgate_env(GG_TEST_DB="method")
    def test_closest_marker_wins(self):
        assert (os.environ["GG_TEST_CLASS"], os.environ["GG_TEST_DB"]) == ("class", "method")

    def test_class_marker_alone(self):
        assert (os.environ["GG_TEST_CLASS"], os.environ["GG_TEST_DB"]) == ("class", "class")


@pytest.mark.gridgate_env("GG_TEST_DB")
def test_bad_marker():
    pass


def test_marker_values_restored():
    assert os.environ["GG_TEST_DB"] == os.environ["EXPECTED_DB"]
    assert "GG_TEST_NEW" not in os.environ
    assert "GG_TEST_CLASS" not in os.environ
    assert os.environ["GG_TEST_KEEP"] == "mine"
"""


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["single", "xdist"])
def test_env_defaults(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, xdist: list[str]
) -> None:
    pytester.makepyprojecttoml(PYPROJECT)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_env=TESTS)
    monkeypatch.setenv("GG_TEST_KEEP", "mine")
    monkeypatch.setenv("GG_TEST_FORCED", "secret-original-value")
    monkeypatch.setenv("EXPECTED_DB", "sqlite://")
    # -p no:randomly: the restoration test must run after the marked ones.
    result = pytester.runpytest_subprocess(*xdist, "-p", "no:randomly", "--gridgate-report=r.json")

    result.assert_outcomes(passed=7, errors=1)
    result.stdout.fnmatch_lines(["*test_bad_marker*gridgate_env takes NAME='value'*"])
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["env"] == {
        "applied": ["GG_TEST_BOTH", "GG_TEST_DB", "GG_TEST_FORCED"],
        "kept": ["GG_TEST_KEEP"],
    }
    result.stdout.fnmatch_lines(["PASS env *3 applied, 1 kept*", "*kept: GG_TEST_KEEP"])
    # Names only: no value ever reaches the output or the report.
    output = result.stdout.str() + result.stderr.str() + json.dumps(report)
    for value in ("sqlite://", "from-config", "forced", "mine", "secret-original-value"):
        assert value not in output


def test_profile_env_from_option_and_variable(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyprojecttoml(PYPROJECT)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_profile="""
        import conftest

        def test_profile():
            assert conftest.SEEN["GG_TEST_DB"] == "postgresql://ci"
        """
    )
    assert pytester.runpytest_subprocess("--gridgate-profile=ci").ret == 0
    monkeypatch.setenv("GRIDGATE_PROFILE", "ci")
    assert pytester.runpytest_subprocess().ret == 0
    monkeypatch.setenv("GG_TEST_DB", "mine")
    assert pytester.runpytest_subprocess().ret == 1  # already set: kept, even in a profile


def test_defaults_are_undone_after_an_in_process_session(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.gridgate.env]\nGG_TEST_INPROCESS = "x"\n')
    pytester.makepyfile(
        """
        import os

        def test_it():
            assert os.environ["GG_TEST_INPROCESS"] == "x"
        """
    )
    assert "GG_TEST_INPROCESS" not in os.environ
    pytester.runpytest("-p", "gridgate").assert_outcomes(passed=1)
    assert "GG_TEST_INPROCESS" not in os.environ
    assert "_GRIDGATE_ENV_APPLIED_BY" not in os.environ


# (the table, what the one-line error names). os.environ refuses each of these names or
# values, which was a traceback from the env defaults (exit 1).
BAD_ENV = [
    (
        '[tool.gridgate.env]\n"A=B" = "x"',
        "env.\"A=B\": an environment variable's name cannot contain '='",
    ),
    ('[tool.gridgate.env]\n"" = "x"', 'env."": an environment variable needs a name'),
    (
        '[tool.gridgate.env]\nGG_SECRET = "s3cret\\u0000tail"',
        "env.GG_SECRET: the value contains a NUL",
    ),
    ('[tool.gridgate.env_force]\n"=x" = "1"', 'env_force."=x": an environment variable\'s name'),
    (
        '[tool.gridgate.profiles.ci.env]\n"A\\u0000B" = "1"',
        'profiles.ci.env."A\\u0000B": an environment variable\'s name cannot contain a NUL',
    ),
]


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["single", "xdist"])
@pytest.mark.parametrize(("table", "message"), BAD_ENV, ids=[m.split(":")[0] for _, m in BAD_ENV])
def test_unusable_env_names_and_values_are_usage_errors(
    pytester: pytest.Pytester, xdist: list[str], table: str, message: str
) -> None:
    pytester.makepyprojecttoml(table)
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest_subprocess(*xdist)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"ERROR: gridgate: pyproject.toml: {message}"), errors[0]
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    assert "s3cret" not in output  # values are never shown


def test_marker_with_an_unusable_name_fails_its_test_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gridgate_env(**{"A=B": "1"})
        def test_bad_name(): pass

        def test_other(): pass
        """
    )
    result = pytester.runpytest_subprocess()

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_bad_name*",
            "gridgate_env: 'A=B': an environment variable's name cannot contain '='",
        ]
    )
    assert "Traceback" not in result.stdout.str()
