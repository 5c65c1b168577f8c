"""Configuration: loading, precedence, profiles, and one-line errors (exit 4 in pytest)."""

from __future__ import annotations

import fnmatch
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_gridgate.settings import (
    ConfigError,
    GridgateConfig,
    env_variable_names,
    load_config,
    number_ranges,
)

XDIST = pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["single", "xdist"])


def test_wrong_type_is_one_line_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.gridgate.timeouts]\ndefault = "abc"\n')
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: gridgate: pyproject.toml: timeouts.default: expected a number*"]
    )
    assert "Traceback" not in result.stderr.str()
    assert [line for line in result.stderr.lines if line.strip()] == [
        "ERROR: gridgate: pyproject.toml: timeouts.default: expected a number, got string 'abc'"
    ]
    assert result.stdout.str().strip() == ""


# --------------------------------------------------------------------------- the loader


def _load(tmp_path: Path, text: str, name: str = "pyproject.toml", **kwargs: Any) -> GridgateConfig:
    (tmp_path / name).write_text(textwrap.dedent(text))
    kwargs.setdefault("environ", {})
    return load_config(tmp_path, **kwargs)


def test_defaults_without_a_file(tmp_path: Path) -> None:
    config = load_config(tmp_path, environ={}, upwards=False)
    assert config == GridgateConfig()
    assert (config.collection.min_tests, config.timeouts.default) == (1, 60.0)
    assert config.source is None


def test_precedence_command_line_over_environment_over_file(tmp_path: Path) -> None:
    text = "[tool.gridgate.timeouts]\ndefault = 10\nsession = 100\n"
    assert _load(tmp_path, text).timeouts.default == 10.0
    environ = {"GRIDGATE_TIMEOUTS_DEFAULT": "20", "GRIDGATE_LEAKS_CHECKS": "threads, fds"}
    config = _load(tmp_path, text, environ=environ)
    assert (config.timeouts.default, config.timeouts.session) == (20.0, 100.0)
    assert config.leaks.checks == ("threads", "fds")
    config = _load(tmp_path, text, environ=environ, overrides={"timeouts.default": "30"})
    assert config.timeouts.default == 30.0


def test_profile_overlays_tables(tmp_path: Path) -> None:
    text = """
        [tool.gridgate]
        profile = "ci"
        [tool.gridgate.env]
        A = "1"
        B = "2"
        [tool.gridgate.leaks]
        action = "warn"
        grace = 1
        [tool.gridgate.profiles.ci]
        leaks = { action = "fail" }
        env = { B = "ci" }
        [tool.gridgate.profiles.local]
        leaks = { action = "off" }
    """
    ci = _load(tmp_path, text)
    assert (ci.profile, ci.leaks.action, ci.leaks.grace) == ("ci", "fail", 1.0)
    assert dict(ci.env) == {"A": "1", "B": "ci"}
    local = _load(tmp_path, text, environ={"GRIDGATE_PROFILE": "local"})
    assert local.leaks.action == "off"
    assert _load(tmp_path, text, profile="default").leaks.action == "warn"


def test_yaml_file_is_found_upwards(tmp_path: Path) -> None:
    (tmp_path / "gridgate.yaml").write_text("collection:\n  min_tests: 7\n")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    config = load_config(nested, environ={})
    assert config.collection.min_tests == 7
    assert config.source == tmp_path / "gridgate.yaml"


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("[tool.gridgate]\ntimeout = 3\n", {}, "*pyproject.toml: timeout: unknown key*"),
        ("[tool.gridgate.leaks]\naction = 'loud'\n", {}, "*leaks.action: expected one of*"),
        (
            "[tool.gridgate.collection]\nmin_tests = -1\n",
            {},
            "*min_tests: must be from 0 *, got -1",
        ),
        ("[tool.gridgate.env]\nX = true\n", {}, "*env.X: expected a string"),
        ("[tool.gridgate]\n", {"profile": "nope"}, "*profile: unknown profile 'nope'*"),
        (
            "[tool.gridgate.profiles.ci]\nleaks = { acton = 'off' }\n",
            {},
            "*profiles.ci.leaks.acton: unknown key*",
        ),
        (
            "[tool.gridgate]\n",
            {"environ": {"GRIDGATE_TIMEOUT": "3"}},
            "environment variable GRIDGATE_TIMEOUT: unknown gridgate setting",
        ),
        (
            "[tool.gridgate]\n",
            {"environ": {"GRIDGATE_TIMEOUTS_DEFAULT": "soon"}},
            "environment variable GRIDGATE_TIMEOUTS_DEFAULT: timeouts.default: expected a number*",
        ),
        (
            "[tool.gridgate]\n",
            {"overrides": {"timeouts.session": "nan"}},
            "command line: timeouts.session: must be 0 (off) or * to 604800 seconds, got nan",
        ),
        (
            "[tool.gridgate]\n",
            {"overrides": {"leaks.grace": float("inf")}},
            "command line: leaks.grace: must be from 0 to 60 seconds, got inf",
        ),
    ],
)
def test_errors_are_one_line_naming_file_and_key(
    tmp_path: Path, text: str, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as excinfo:
        _load(tmp_path, text, **kwargs)
    assert "\n" not in str(excinfo.value)
    assert fnmatch.fnmatch(str(excinfo.value), message), str(excinfo.value)


def test_unknown_profile_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.gridgate.profiles.ci]\n")
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest_subprocess("--gridgate-profile=nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: gridgate: *: profile: unknown profile 'nope'*"])
    assert "Traceback" not in result.stderr.str()


def test_configuration_reference_lists_every_setting() -> None:
    reference = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    for variable, key in env_variable_names().items():
        assert f"`{key}`" in reference
        assert f"`{variable}`" in reference


# --------------------------------------------------------------------------- numbers


# (where the bad value is, the value, the name the one-line error must give). Each of these
# hung a run, stopped it early or crashed it with a traceback before numbers had ranges.
BAD_NUMBERS = [
    ("toml", "[tool.gridgate.timeouts]\ndefault = nan", "pyproject.toml: timeouts.default"),
    ("toml", "[tool.gridgate.timeouts]\nsession = nan", "pyproject.toml: timeouts.session"),
    ("toml", "[tool.gridgate.timeouts]\ncollection = nan", "pyproject.toml: timeouts.collection"),
    ("toml", "[tool.gridgate.timeouts]\ndefault = inf", "pyproject.toml: timeouts.default"),
    ("toml", "[tool.gridgate.timeouts]\ndefault = 1e10", "pyproject.toml: timeouts.default"),
    ("toml", "[tool.gridgate.timeouts]\ndefault = 1e-9", "pyproject.toml: timeouts.default"),
    ("toml", "[tool.gridgate.timeouts]\nkill_after = -inf", "pyproject.toml: timeouts.kill_after"),
    (
        "toml",
        "[tool.gridgate.timeouts]\nmarkers = { slow = inf }",
        "pyproject.toml: timeouts.markers.slow",
    ),
    ("toml", "[tool.gridgate.leaks]\ngrace = 1e10", "pyproject.toml: leaks.grace"),
    (
        "toml",
        "[tool.gridgate.collection]\nmin_tests = 1000000000000",
        "pyproject.toml: collection.min_tests",
    ),
    (
        "toml",
        "[tool.gridgate.profiles.ci.timeouts]\nsession = nan",
        "pyproject.toml: profiles.ci.timeouts.session",
    ),
    ("yaml", "timeouts:\n  kill_after: .inf", "gridgate.yaml: timeouts.kill_after"),
    ("yaml", "collection:\n  min_tests: 1" + "0" * 80, "gridgate.yaml: collection.min_tests"),
    (
        "env",
        "GRIDGATE_TIMEOUTS_DEFAULT=1e400",
        "environment variable GRIDGATE_TIMEOUTS_DEFAULT: timeouts.default",
    ),
    ("env", "GRIDGATE_LEAKS_GRACE=nan", "environment variable GRIDGATE_LEAKS_GRACE: leaks.grace"),
    ("env", "PYTEST_TIMEOUT=inf", "environment variable PYTEST_TIMEOUT"),
    ("option", "--timeout=nan", "command line: --timeout"),
    ("option", "--timeout=1e10", "command line: --timeout"),
    ("option", "--session-timeout=inf", "command line: --session-timeout"),
    ("ini", "timeout = 1e10", "pyproject.toml: tool.pytest.ini_options.timeout"),
]


@XDIST
@pytest.mark.parametrize(
    ("where", "value", "names"),
    BAD_NUMBERS,
    ids=[f"{w}-{v.split(chr(10))[-1]}" for w, v, _ in BAD_NUMBERS],
)
def test_every_number_is_finite_and_in_range(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    xdist: list[str],
    where: str,
    value: str,
    names: str,
) -> None:
    args = [*xdist]
    if where == "toml":
        pytester.makepyprojecttoml(value)
    elif where == "yaml":
        pytester.path.joinpath("gridgate.yaml").write_text(value + "\n")
    elif where == "ini":
        pytester.makepyprojecttoml(f"[tool.pytest.ini_options]\n{value}\n")
    elif where == "env":
        monkeypatch.setenv(*value.split("=", 1))
    else:
        args.append(value)
    pytester.makepyfile("def test_ok(): pass\ndef test_two(): pass\n")
    # A timeout bounds the run: NaN used to mean "never time out" and hang it.
    result = pytester.runpytest_subprocess(*args, timeout=120)

    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"ERROR: gridgate: {names}: must be "), errors[0]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_numbers_in_range_and_off_are_accepted(tmp_path: Path) -> None:
    text = """
        [tool.gridgate.timeouts]
        default = 0
        session = 604800
        collection = 0.001
        kill_after = 0
        markers = { slow = 86400, free = 0 }
        [tool.gridgate.leaks]
        grace = 60
        [tool.gridgate.collection]
        min_tests = 0
    """
    config = _load(tmp_path, text)
    assert config.timeouts == config.timeouts._replace(
        default=0.0, session=604800.0, collection=0.001, kill_after=0.0
    )
    assert dict(config.timeouts.markers) == {"slow": 86400.0, "free": 0.0}


def test_configuration_reference_documents_every_range() -> None:
    reference = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    for key, allowed in number_ranges().items():
        assert f"| `{key}` | {allowed} |" in reference, key


# --------------------------------------------------------------------------- pytest --help


def test_help_shows_the_defaults_and_the_settings_in_effect(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyprojecttoml(
        """
        [tool.gridgate.env]
        GG_DATABASE = "postgresql://user:hunter2@db/test"
        [tool.gridgate.timeouts]
        default = 7
        markers = { slow = 90 }
        """
    )
    monkeypatch.setenv("GRIDGATE_LEAKS_ACTION", "warn")
    result = pytester.runpytest_subprocess("--help")

    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "gridgate quality gate (on once installed*",
            "*--gridgate-leaks=*",
            "*leaks.action*default: fail)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "gridgate settings in effect (pyproject.toml, profile 'default'*",
            "  env                     GG_DATABASE",
            "  env_force               (none)",
            "  collection.min_tests    1",
            "  timeouts.default        7 s",
            "  timeouts.markers        slow = 90 s",
            "  timeouts.session        1800 s",
            "  timeouts.collection     300 s",
            "  timeouts.kill_after     5 s",
            "  leaks.action            warn",
        ]
    )
    assert "hunter2" not in result.stdout.str()  # names only, never values
    assert "scan." not in result.stdout.str()  # the scanner's settings are not the plugin's


def test_help_with_a_bad_configuration_still_helps(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.gridgate.timeouts]\ndefault = nan\n")
    result = pytester.runpytest_subprocess("--help")

    result.stderr.fnmatch_lines(["ERROR: gridgate: pyproject.toml: timeouts.default: must be *"])
    assert "gridgate settings in effect (" not in result.stdout.str()
    assert "Traceback (most recent call last)" not in result.stdout.str() + result.stderr.str()
