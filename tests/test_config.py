"""Configuration: loading, precedence, profiles, and one-line errors (exit 4 in pytest)."""

from __future__ import annotations

import pytest


def test_wrong_type_is_one_line_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.gridgate.timeouts]\ndefault = "abc"\n')
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: gridgate: pyproject.toml: timeouts.default: expected a number*"]
    )
    assert "Traceback" not in result.stderr.str()
