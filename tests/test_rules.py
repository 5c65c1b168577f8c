"""Every rule's VALID and INVALID examples, run through the engine's entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scanners.rules import RULES, Rule, check_python, fix_python
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


@pytest.mark.parametrize(("rule", "example"), _cases("INVALID"))
def test_invalid_example_is_found_where_it_says_and_fixed_as_it_says(
    rule: type[Rule], example: Example
) -> None:
    """Issue 15: like Fixit's rules, each INVALID example asserts every finding's line and
    column, and the code after ``--fix`` when the rule fixes it."""
    found = [
        f
        for f in check_python(
            example.path, example.code.encode(), rule.EXAMPLE_SETTINGS, lambda code: True
        )
        if f.rule == rule.code
    ]
    assert example.at, "an INVALID example says where its findings are"
    assert tuple((f.line, f.column) for f in found) == example.at, example.code
    fixed = fix_python(
        example.path, example.code.encode(), rule.EXAMPLE_SETTINGS, lambda code: code == rule.code
    )
    assert (None if fixed is None else fixed.decode()) == example.fixed, example.code


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


def test_kwargs_may_carry_the_timeout_so_gg006_stays_silent() -> None:
    # Documented decision (GG006 docstring): `**kwargs`/`*args` may hold the timeout.
    assert "**kwargs" in (RULES["GG006"].__doc__ or "")
    source = (
        b"import subprocess\n"
        b"def run(cmd, **kwargs):\n"
        b"    subprocess.run(cmd, **kwargs)\n"
        b"    subprocess.check_output(cmd, *kwargs.values())\n"
        b"    proc = subprocess.Popen(cmd)\n"
        b"    proc.communicate(**kwargs)\n"
        b"    proc.wait(*kwargs.values())\n"
        b"    subprocess.run(cmd)\n"
    )
    found = check_python("pkg/mod.py", source, RULES["GG006"].EXAMPLE_SETTINGS, lambda c: True)
    assert [(f.rule, f.line) for f in found] == [("GG006", 8)]


def test_third_party_rules_load_from_the_entry_point_group(tmp_path: Path) -> None:
    # A real distribution on sys.path: a dist-info with an entry point, and its module.
    (tmp_path / "demo_rules.py").write_text(
        "import libcst as cst\n"
        "from scanners.rules import Rule\n"
        "class NoPrint(Rule):\n"
        "    '''Flags print().'''\n"
        "    code = 'XY001'\n"
        "    name = 'no-print'\n"
        "    node_types = (cst.Call,)\n"
        "    def visit(self, node, ctx):\n"
        "        if ctx.qualified_name(node.func) == 'builtins.print':\n"
        "            ctx.report(self, node, 'print() in library code')\n"
        "class Broken:\n"
        "    pass\n"
    )
    dist = tmp_path / "demo_rules-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-rules\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[gridgate.rules]\nXY001 = demo_rules:NoPrint\nXY002 = demo_rules:Broken\n"
        "XY003 = demo_rules_missing:Rule\n"
    )
    script = (
        "from pytest_gridgate.settings import ScanSettings\n"
        "from scanners.rules import LOAD_ERRORS, RULES, check_python\n"
        "found = check_python('m.py', b'print(1)\\n', ScanSettings(), lambda c: True)\n"
        "print([f.rule for f in found])\n"
        "print(sorted(RULES)[-1], len(LOAD_ERRORS))\n"
        "print('\\n'.join(LOAD_ERRORS))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "['XY001']"
    assert lines[1] == "XY001 2"
    assert "XY002" in lines[2]
    assert "not a Rule subclass" in lines[2]
    assert "XY003" in lines[3]


def test_a_third_party_rule_declares_its_calls_and_offers_a_fix(tmp_path: Path) -> None:
    """Issue 15: a rule that only declares ``calls`` and writes ``visit`` gets the cheap
    tiers for free, and a replacement it reports is applied by ``--fix`` like GG001's."""
    (tmp_path / "fix_rules.py").write_text(
        "import libcst as cst\n"
        "from scanners.rules import Rule\n"
        "class NoPrint(Rule):\n"
        "    '''Flags print(); the fix is log().'''\n"
        "    code = 'XY001'\n"
        "    name = 'no-print'\n"
        "    fixable = True\n"
        "    node_types = (cst.Call,)\n"
        "    calls = ('builtins.print',)\n"
        "    def visit(self, node, ctx):\n"
        "        if ctx.qualified_name(node.func) == 'builtins.print':\n"
        "            fixed = node.with_changes(func=cst.Name('log'))\n"
        "            ctx.report(self, node, 'print()', replacement=fixed)\n"
    )
    dist = tmp_path / "fix_rules-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fix-rules\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[gridgate.rules]\nXY001 = fix_rules:NoPrint\n")
    (tmp_path / "mod.py").write_text("def f(x):\n    print(x)  # keep\n    return x\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    result = subprocess.run(
        [sys.executable, "-m", "scanners", "--select", "XY", "--no-cache", "--fix", "mod.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "mod.py").read_text() == "def f(x):\n    log(x)  # keep\n    return x\n"
    script = (
        "from pytest_gridgate.settings import ScanSettings\n"
        "from scanners.rules import RULES\n"
        "from scanners.rules.tiers import required_words\n"
        "rule = RULES['XY001'](ScanSettings(), 'm.py')\n"
        "print(required_words(rule))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.stdout.strip() == "(((b'builtins.print(',),),)", result.stderr
