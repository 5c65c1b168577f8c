"""Every rule's VALID and INVALID examples, run through the engine's entry point."""

from __future__ import annotations

import pytest

from scanners.rules import RULES, Rule, check_python
from scanners.rules.registry import BUILTIN_RULES
from scanners.rules.rule import Example, examples


def _cases(kind: str) -> list[object]:
    cases = []
    for rule in BUILTIN_RULES:
        for index, example in enumerate(examples(getattr(rule, kind))):
            cases.append(pytest.param(rule, example, id=f"{rule.code}-{kind.lower()}-{index}"))
    return cases


def _findings(rule: type[Rule], example: Example) -> list[str]:
    found = check_python(
        example.path, example.code.encode(), rule.EXAMPLE_SETTINGS, lambda code: True
    )
    return [f"{f.line}:{f.column} {f.rule} {f.message}" for f in found if f.rule == rule.code]


@pytest.mark.parametrize(("rule", "example"), _cases("VALID"))
def test_valid_example_has_no_finding(rule: type[Rule], example: Example) -> None:
    assert _findings(rule, example) == []


@pytest.mark.parametrize(("rule", "example"), _cases("INVALID"))
def test_invalid_example_is_found(rule: type[Rule], example: Example) -> None:
    assert len(_findings(rule, example)) == example.count, example.code


def test_every_builtin_rule_is_registered_and_documented() -> None:
    codes = [rule.code for rule in BUILTIN_RULES]
    assert codes == sorted(codes)
    for rule in BUILTIN_RULES:
        assert RULES[rule.code] is rule
        doc = rule.__doc__ or ""
        assert "**Why it is bad.**" in doc
        assert "**Example.**" in doc
        assert "**Fix.**" in doc
        assert rule.VALID
        assert rule.INVALID
