"""Findings of one place are one group (issue 14, item 17): pexpect's shared ``setUp`` sets
two variables on two lines and leaks both in every test, one cause printed as two.

Real pytest runs in subprocesses for the report; :func:`group` on entries whose origins
are lines of real source files for where the merging stops.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_gridgate.leaks.groups import group, verdict_line

if TYPE_CHECKING:
    from conftest import Gated

BASE_CASE = """
    import os
    import unittest


    class SharedCase(unittest.TestCase):
        def setUp(self):
            os.environ["COVERAGE_PROCESS_START"] = "x"
            os.environ["COVERAGE_FILE"] = "x"
"""

FIVE_TESTS = """
    from base_case import SharedCase


    class TestInherits(SharedCase):
        def test_1(self):
            pass

        def test_2(self):
            pass

        def test_3(self):
            pass

        def test_4(self):
            pass

        def test_5(self):
            pass
"""


def _line_of(path: Path, text: str) -> int:
    [line] = [n for n, t in enumerate(path.read_text().splitlines(), 1) if text in t]
    return line


def test_a_setup_setting_two_variables_is_one_group(
    pytester: pytest.Pytester, gated: Gated
) -> None:
    pytester.makepyprojecttoml('[tool.gridgate.leaks]\naction = "fail"\n')
    pytester.makepyfile(base_case=BASE_CASE, test_inherits=FIVE_TESTS)
    pytester.syspathinsert()
    result, report = gated.run("-p", "no:randomly", "--gridgate-summary", "summary.md")

    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    # Every test keeps its own two findings.
    assert len(report["leaks"]) == 10
    base = pytester.path / "base_case.py"
    first = f"{base}:{_line_of(base, 'COVERAGE_PROCESS_START')}"
    second = f"{base}:{_line_of(base, 'COVERAGE_FILE')}"
    [found] = report["leak_groups"]
    assert (found["kind"], found["count"], found["findings"]) == ("environ", 5, 10)
    assert found["origin"] == first  # where the fix starts: the setUp's first setter
    assert found["origins"] == [first, second]
    assert found["details"] == ["COVERAGE_PROCESS_START added", "COVERAGE_FILE added"]
    assert found["function"] == "SharedCase.setUp"
    assert sorted(found["nodeids"]) == [
        f"test_inherits.py::TestInherits::test_{n}" for n in range(1, 6)
    ]

    [gate] = [g for g in report["gates"] if g["gate"] == "leaks"]
    assert gate["summary"].startswith("10 leak(s) in 5 test(s) or fixture(s) from 1 cause(s)")
    fix = (
        "5 x environ: COVERAGE_PROCESS_START added, COVERAGE_FILE added,"
        f" from {first} (and line {second.rsplit(':', 1)[1]}, in SharedCase.setUp): fix it there"
    )
    assert gate["details"][0].startswith(fix), gate["details"]
    assert fix in result.stdout.str()
    assert fix in (pytester.path / "summary.md").read_text()


SOURCE = """
    import os


    def set_both():
        os.environ["A"] = "1"
        os.environ["B"] = "1"


    def set_one():
        os.environ["C"] = "1"

    os.environ["D"] = "1"
    os.environ["E"] = "1"

    os.environ["F"] = "1"
"""


def _setter_line(path: Path, name: str) -> int:
    return _line_of(path, '["' + name + '"]')


def _entries(path: Path, nodeids: dict[str, list[str]]) -> list[dict[str, Any]]:
    """An ``environ`` entry per test of each variable of ``nodeids``, set where SOURCE does."""
    return [
        {
            "nodeid": nodeid,
            "kind": "environ",
            "detail": f"{name} added",
            "origin": f"{path}:{_setter_line(path, name)}",
            "fixture": None,
            "cleaned": True,
        }
        for name, tests in nodeids.items()
        for nodeid in tests
    ]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "setters.py"
    path.write_text(textwrap.dedent(SOURCE))
    return path


def _details(groups: list[dict[str, Any]]) -> list[list[str]]:
    return [found["details"] for found in groups]


def test_lines_of_two_functions_stay_two_groups(source: Path) -> None:
    tests = ["t.py::a", "t.py::b"]
    groups = group(_entries(source, {"A": tests, "B": tests, "C": tests}))
    assert _details(groups) == [["A added", "B added"], ["C added"]]
    assert [found["count"] for found in groups] == [2, 2]
    assert groups[0]["function"] == "set_both"


def test_one_place_found_in_other_tests_stays_two_groups(source: Path) -> None:
    groups = group(_entries(source, {"A": ["t.py::a", "t.py::b"], "B": ["t.py::a"]}))
    assert _details(groups) == [["A added"], ["B added"]]


def test_module_level_lines_merge_only_when_adjacent(source: Path) -> None:
    tests = ["t.py::a"]
    groups = group(_entries(source, {"D": tests, "E": tests, "F": tests}))
    assert _details(groups) == [["D added", "E added"], ["F added"]]
    assert groups[0]["function"] is None
    # One test: its own line, naming the other line too.
    d, e = (_setter_line(source, name) for name in "DE")
    assert f"(made at {source}:{d} (and line {e}))" in verdict_line(groups[0])


def test_an_unreadable_source_merges_adjacent_lines_only(source: Path) -> None:
    entries = _entries(source, {"A": ["t.py::a"], "B": ["t.py::a"], "C": ["t.py::a"]})
    source.unlink()  # the report made where the tests' source is not
    assert _details(group(entries)) == [["A added", "B added"], ["C added"]]


def test_a_source_changed_since_it_was_read_is_read_again(source: Path) -> None:
    """The spans of a file are kept for the whole process (the verdict is made again for
    each mid-run snapshot of the report), but never past a change of the file."""
    tests = ["t.py::a", "t.py::b"]
    entries = _entries(source, {"A": tests, "B": tests})
    assert group(entries)[0]["function"] == "set_both"
    # The same lines, now in a function of another name: the next verdict says so.
    source.write_text(source.read_text().replace("def set_both", "def set_both_renamed"))
    assert group(entries)[0]["function"] == "set_both_renamed"


def test_a_source_too_deep_to_parse_merges_adjacent_lines_only(tmp_path: Path) -> None:
    # Generated code: the parser gives up (RecursionError) on a chain of 3000 operators.
    deep = tmp_path / "generated.py"
    chain = "+".join(["1"] * 3000)
    deep.write_text(f'import os\nx = {chain}\nos.environ["A"] = "1"\nos.environ["B"] = "1"\n')
    entries = _entries(deep, {"A": ["t.py::a"], "B": ["t.py::a"]})
    [found] = group(entries)
    assert (found["details"], found["function"]) == (["A added", "B added"], None)


def test_a_test_with_two_findings_of_a_group_is_listed_once(gated: Gated) -> None:
    """pexpect's socket tests left two pipes each: the group's line named each test twice."""
    gated.project(
        '[tool.gridgate.leaks]\naction = "warn"\n',
        test_pipes="""
            import os

            KEPT = []


            class TestPipes:
                def test_one(self):
                    KEPT.append(os.pipe())

                def test_two(self):
                    KEPT.append(os.pipe())
        """,
    )
    run = gated.run("-p", "no:randomly")
    [line] = [line for line in run.result.outlines if line.lstrip().startswith("4 x fd")]
    tests = line.rsplit("(tests: ", 1)[1]
    assert tests == "test_pipes.py::TestPipes::test_one, test_pipes.py::TestPipes::test_two)"
