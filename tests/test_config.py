"""Configuration: loading, precedence, profiles, and one-line errors (exit 4 in pytest)."""

from __future__ import annotations

import fnmatch
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_gridgate.config import ConfigError, GridgateConfig, env_variable_names, load_config


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
        ("[tool.gridgate.collection]\nmin_tests = -1\n", {}, "*min_tests: must not be negative"),
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
