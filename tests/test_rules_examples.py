"""The demo project (`examples/`) has one scanner defect per rule, and --fix repairs GG001."""

from __future__ import annotations

from pathlib import Path

from pytest_gridgate.settings import load_config
from scanners.rules import check_python, fix_python

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_every_rule_fires_in_the_demo_project() -> None:
    settings = load_config(file=EXAMPLES / "pyproject.toml", environ={}).scan
    found: dict[str, list[str]] = {}
    for path in sorted((EXAMPLES / "src" / "demo_app").rglob("*.py")):
        relative = path.relative_to(EXAMPLES.parent).as_posix()
        for f in check_python(relative, path.read_bytes(), settings, lambda code: True):
            found.setdefault(f.rule, []).append(f"{f.path}:{f.line}")
    expected = {f"GG{n:03d}" for n in range(1, 11)}
    assert set(found) == expected, found
    # exactly one defect each, except GG005+GG006 sharing one line in shell.py
    assert all(len(places) == 1 for places in found.values()), found
    assert found["GG007"] == ["examples/src/demo_app/tool_runner.py:17"]
    assert found["GG009"] == ["examples/src/demo_app/runtime/engine.py:22"]


def test_fix_repairs_the_demo_loop() -> None:
    settings = load_config(file=EXAMPLES / "pyproject.toml", environ={}).scan
    path = EXAMPLES / "src" / "demo_app" / "loops.py"
    source = path.read_bytes()
    fixed = fix_python("examples/src/demo_app/loops.py", source, settings)
    assert fixed is not None
    assert b"loop = aio.get_running_loop()  # GG001, fixable" in fixed
    remaining = check_python("loops.py", fixed, settings, lambda code: code == "GG001")
    assert remaining == []
