"""``check_python`` on hostile input: every file is checked or is one ParseFailure."""

from __future__ import annotations

import ast
import os
import random
import sys
from pathlib import Path

import pytest

from pytest_gridgate.settings import ScanSettings
from scanners.finding import ParseFailure, parse_failure
from scanners.globs import glob_matches
from scanners.rules import RULES, allow_in_matches, check_python
from scanners.rules.tiers import past_tokens

SETTINGS = ScanSettings()


def everything(code: str) -> bool:
    return True


def test_syntax_error_names_the_line() -> None:
    with pytest.raises(ParseFailure) as failure:
        check_python("m.py", b"import os\n\ndef f(:\n    pass\n", SETTINGS, everything)
    assert failure.value.line == 3
    assert "syntax error" in failure.value.message


def test_latin1_file_with_coding_cookie_is_checked() -> None:
    source = (
        "# -*- coding: latin-1 -*-\nimport sys\nNAME = 'Müller'\ndef stop():\n    sys.exit(1)\n"
    ).encode("latin-1")
    found = check_python("m.py", source, SETTINGS, everything)
    assert [(f.rule, f.line, f.column) for f in found] == [("GG004", 5, 5)]


def test_columns_count_characters() -> None:
    source = "import sys\ndef f():\n    x = 'ééé'; sys.exit(1)\n".encode()
    (finding,) = check_python("m.py", source, SETTINGS, everything)
    assert (finding.line, finding.column) == (3, 16)
    assert finding.source == "sys.exit(1)"


def test_random_bytes_and_undecodable_utf8() -> None:
    noise = random.Random(7).randbytes(4096)
    with pytest.raises(ParseFailure):
        check_python("noise.py", noise, SETTINGS, everything)
    with pytest.raises(ParseFailure) as failure:
        check_python("m.py", b"x = '\xff\xfe'\n", SETTINGS, everything)
    assert "decode" in failure.value.message or "syntax" in failure.value.message


def test_empty_file() -> None:
    assert check_python("m.py", b"", SETTINGS, everything) == []


@pytest.mark.parametrize(
    "expression",
    ["(" * 3000 + "1" + ")" * 3000, "1" + " + 1" * 3000, "-" * 3000 + "1", "x" + ".a" * 3000],
)
def test_3000_deep_expression_is_a_parse_failure(expression: str) -> None:
    source = f"import asyncio\nasyncio.get_event_loop()\ny = {expression}\n".encode()
    with pytest.raises(ParseFailure) as failure:
        check_python("deep.py", source, SETTINGS, everything)
    assert "nested" in failure.value.message


def test_deep_but_parseable_expression_is_checked() -> None:
    # Deep enough for libcst's recursive visitors, within the compiler's limits.
    source = ("import asyncio\nasyncio.get_event_loop()\ny = 1" + " + 1" * 900 + "\n").encode()
    found = check_python("deep.py", source, SETTINGS, everything)
    assert [(f.rule, f.line) for f in found] == [("GG001", 2)]


def test_syntax_is_only_checked_when_parsing_is_needed() -> None:
    broken = b"def f(:\n"
    assert check_python("m.py", broken, SETTINGS, lambda code: code == "GG001") == []
    with pytest.raises(ParseFailure):
        check_python("m.py", broken, SETTINGS, lambda code: code in ("GG000", "GG001"))


@pytest.mark.parametrize(
    "source",
    [
        b"nonlocal x\n",
        b"x = 1\nfrom __future__ import annotations\n",
        b"from __future__ import braces\n",
        b"def f(a, a):\n    pass\n",
        b"def f():\n    x = 1\n    global x\n",
    ],
)
def test_what_the_parser_accepts_is_no_syntax_error(source: bytes) -> None:
    # Python's compiler rejects these after parsing; ast.parse (and so GG000) accepts them.
    # A file no rule looks into gets a cheaper syntax check that must agree.
    ast.parse(source)
    assert check_python("m.py", source, SETTINGS, everything) == []
    with_a_rule = b"import asyncio\nasyncio.get_event_loop()\n" + source
    assert [f.rule for f in check_python("m.py", with_a_rule, SETTINGS, everything)] == ["GG001"]


@pytest.mark.parametrize(
    "source",
    [
        b"def f(:\n    pass\n",
        b"x = 1\n  y = 2\n",
        b"if x:\n\tpass\n        pass\n",
        b"s = 'unterminated\n",
        b"x = '\xff\xfe'\n",
        b"x = 1\x00\n",
        b"# -*- coding: no-such-codec -*-\nx = 1\n",
        b"x = " + b"(" * 3000 + b"1" + b")" * 3000 + b"\n",
        b"x = 1" + b" + 1" * 100_000 + b"\n",
    ],
)
def test_a_file_no_rule_looks_into_fails_as_ast_parse_does(source: bytes) -> None:
    try:
        ast.parse(source, "m.py")
    except (SyntaxError, ValueError, UnicodeError, RecursionError, MemoryError) as exc:
        expected = parse_failure(exc)
    with pytest.raises(ParseFailure) as failure:
        check_python("m.py", source, SETTINGS, everything)
    found = failure.value
    assert (found.message, found.line, found.column) == (
        expected.message,
        expected.line,
        expected.column,
    )


def test_large_generated_file() -> None:
    body = "".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(5000))
    source = ("import sys\n" + body + "sys.exit(0)\n").encode()
    assert len(source) > 150_000
    found = check_python("big.py", source, SETTINGS, everything)
    assert [(f.rule, f.line) for f in found] == [("GG004", source.count(b"\n"))]


def test_relative_imports_resolve_through_the_package_on_disk(tmp_path: Path) -> None:
    package = tmp_path / "app" / "runtime"
    package.mkdir(parents=True)
    (tmp_path / "app" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (tmp_path / "app" / "proc.py").write_text("")
    source = (
        b"from ..proc import launch\nfrom .. import proc\n"
        b"from os import system as run_shell\n"
        b"def go():\n    run_shell('ls')\n    proc.system('ls')\n"
    )
    path = package / "engine.py"
    path.write_bytes(source)
    found = check_python(str(path), source, SETTINGS, everything)
    # proc.system is app.proc.system, not os.system: only the aliased os.system is flagged.
    assert [(f.rule, f.line) for f in found] == [("GG005", 5)]
    assert os.path.isfile(path)


def test_globs() -> None:
    assert glob_matches("**/tool_runner.py", "src/app/tool_runner.py")
    assert glob_matches("**/tool_runner.py", "tool_runner.py")
    assert glob_matches("src/app/runtime/**", "examples/src/app/runtime/deep/x.py")
    assert glob_matches("src/*/x.py", "src/app/x.py")
    assert not glob_matches("src/*/x.py", "src/app/sub/x.py")
    assert not glob_matches("src/app/tool_runner.py", "src/app/tool_runner.pyc")
    assert not glob_matches("runtime/**", "src/runtimes/x.py")


def test_allow_in_matches_names_the_entries_that_matched() -> None:
    from pytest_gridgate.settings import ForbiddenCall

    settings = ScanSettings(
        forbidden_calls=(
            ForbiddenCall("plugin.run", allow_in=("**/tool_runner.py", "legacy/**")),
            ForbiddenCall("os.kill", allow_in=("**/supervisor.py",)),
        )
    )
    assert allow_in_matches("src/app/tool_runner.py", settings) == {(0, "**/tool_runner.py")}
    assert allow_in_matches("src/app/other.py", settings) == frozenset()


def test_skeleton_keeps_lines_bindings_and_findings() -> None:
    from scanners.rules.ast_facts import AstFacts
    from scanners.rules.skeleton import skeleton

    source = (
        b"\xef\xbb\xbfdef exit(code):\n    return code\n"  # BOM, and a local `exit`
        b"@decorator(\n    1)\nclass Big:\r\n    x = 1\r\n    def m(self):\r\n        pass\r\n"
        b"import sys\n"
        b"def uses():\n    exit(1)\n    sys.exit(2)\n"
        b"def filler():\n" + b"    a = 1\n" * 200
    )
    facts = AstFacts("m.py", source)
    smaller = skeleton(facts, {12})  # the line of sys.exit(2)
    assert smaller is not None
    assert len(smaller) < len(source) / 2
    assert smaller.count(b"\n") + smaller.count(b"\r\n") == source.count(b"\n") + source.count(
        b"\r\n"
    )
    # Consecutive definitions are one stub binding the names kept code uses (`exit`, not
    # `Big`); a definition whose name nothing kept uses becomes `pass`.
    assert smaller.startswith(b"\xef\xbb\xbfexit = 0\n\n\n\n\r\n\r\n\r\n\r\nimport sys\n")
    # Inside a kept function, a statement holding no needed line binds nothing: `pass`.
    assert b"def uses():\n    pass\n    sys.exit(2)\npass\n" in smaller
    # Same findings as the full parse: the stub keeps `exit` a local name.
    found = check_python("m.py", source, SETTINGS, everything)
    assert [(f.rule, f.line, f.column, f.source) for f in found] == [
        ("GG004", 12, 5, "sys.exit(2)")
    ]


def test_skeleton_stubs_methods_at_their_indentation() -> None:
    from scanners.rules.ast_facts import AstFacts
    from scanners.rules.skeleton import skeleton

    filler = "".join(f"        x{i} = {i}\n" for i in range(100))
    deeper = filler.replace("        ", "            ")
    source = (
        "import subprocess\n"
        "class TestProc:\n"
        "    attr = 1\n"
        "    @staticmethod\n"
        f"    def quiet():\n{filler}"
        "    def test_run(self):\n"
        "        def helper():\n"
        f"{deeper}"
        "        subprocess.run(['ls'], input=helper())\n"
        f"    async def other(self):\n{filler}"
    ).encode()
    flagged = "        subprocess.run(['ls'], input=helper())"
    run_line = source.decode().splitlines().index(flagged) + 1
    smaller = skeleton(AstFacts("m.py", source), {run_line})
    assert smaller is not None
    lines = smaller.decode().splitlines()
    assert lines[3] == "    pass"  # the decorator's line, same indentation; `quiet` is unused
    assert "        def helper(): pass" in lines  # used on the kept line: still bound
    assert lines[-len(filler.splitlines()) - 1] == "    pass"
    assert lines[run_line - 1] == flagged
    assert len(lines) == len(source.decode().splitlines())
    found = check_python("m.py", source, SETTINGS, everything)
    assert [(f.rule, f.line, f.column) for f in found] == [("GG006", run_line, 9)]


def test_skeleton_stubs_statements_inside_a_kept_function_keeping_their_bindings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 15: libcst parses less when the statements of a kept function that hold no
    needed line are stubbed too; the stub binds what they bound (a local ``subprocess``
    hides the module's import), and imports, ``global``, docstrings and a statement
    sharing its line stay as they were."""
    from scanners.rules import skeleton as skeleton_module
    from scanners.rules.ast_facts import AstFacts
    from scanners.rules.skeleton import skeleton

    filler = "".join(f"        total += len(subprocess) * {i}\n" for i in range(60))
    source = (
        "import subprocess\nimport os\ncounter = 0\n"
        "def run(items, log):\n"
        "    total = 0\n"
        f"    for subprocess in items:\n{filler}"
        "    with open(log) as os:\n        os.write('x')\n"
        "    try:\n        pass\n    except OSError as error:\n        raise\n"
        "    global counter; counter += 1\n"
        "    subprocess.run('ls')\n"
        "    os.system('ls')\n"
        "def other():\n"
        '    """Docstring."""\n'
        "    import subprocess as sp\n"
        "    x = [i for i in range(10)]\n"
        "    def inner(): pass\n"
        "    sp.run('ls')\n"
    )
    lines = source.splitlines()
    flagged = [number for number, line in enumerate(lines, 1) if "('ls'" in line]
    smaller = skeleton(AstFacts("m.py", source.encode()), set(flagged))
    assert smaller is not None
    kept = smaller.decode().splitlines()
    assert len(kept) == len(lines)
    # `total` and `error` are spelled nowhere in the kept text: only what kept code may
    # look up is bound, in one statement for the whole run.
    assert kept[4:8] == ["    subprocess = os = 0", "", "", ""]
    for line in (
        "    global counter; counter += 1",
        '    """Docstring."""',
        "    import subprocess as sp",
        *(lines[number - 1] for number in flagged),
    ):
        assert line in kept
    assert kept[-3:-1] == ["    pass", ""]  # `x = ...` and `def inner` bind nothing read

    def findings(code: str) -> list[tuple[str, int, int, str | None]]:
        found = check_python("m.py", code.encode(), SETTINGS, everything)
        return [(f.rule, f.line, f.column, f.source) for f in found]

    # The local names hide the imports: only `sp.run` is flagged, as in the full parse.
    with_skeleton = findings(source)
    assert [(rule, line) for rule, line, _, _ in with_skeleton] == [("GG006", flagged[2])]
    unhidden = source.replace("for subprocess in", "for item in").replace("as os:", "as out:")
    with_skeleton_unhidden = findings(unhidden)
    assert {line for _, line, _, _ in with_skeleton_unhidden} == set(flagged)
    monkeypatch.setattr(skeleton_module, "MIN_SAVING", 2.0)  # never worth it: full parses
    assert findings(source) == with_skeleton
    assert findings(unhidden) == with_skeleton_unhidden


def test_large_module_level_data_is_not_parsed_by_libcst() -> None:
    """Issue 13 item 16: a 5 MB module took 35 s, twenty times Python's own parse, because
    module-level statements were always parsed by libcst whole: a generated table, a class
    of thousands of methods. What libcst parses is now a small skeleton, and the findings
    are those of the full parse."""
    from scanners.rules.ast_facts import AstFacts
    from scanners.rules.skeleton import skeleton

    table = "".join(f"    'key{i}': [{i}, 'v{i}', {{'a': {i}}}],\n" for i in range(20_000))
    methods = "".join(f"    def m{i}(self):\n        return self.x + {i}\n" for i in range(5_000))
    source = (
        "import sys\n"
        f"TABLE = {{\n{table}}}\n"
        f"class Big:\n{methods}"
        "    def stop(self):\n        sys.exit(TABLE)\n"
    ).encode()
    assert len(source) > 1_000_000
    exit_line = source.count(b"\n")
    smaller = skeleton(AstFacts("big.py", source), {exit_line})
    assert smaller is not None
    # The table's value and the other methods are gone; empty lines keep the line numbers.
    assert len(smaller.replace(b"\n", b"")) < 100
    assert smaller.count(b"\n") == source.count(b"\n")
    assert b"TABLE = (0" in smaller  # the binding stays
    found = check_python("big.py", source, SETTINGS, everything)
    assert [(f.rule, f.line, f.column, f.source) for f in found] == [
        ("GG004", exit_line, 9, "sys.exit(TABLE)")
    ]


def test_a_declared_definition_is_seen_whole_in_a_large_file() -> None:
    """GG007 declares the functions it checks and reads their whole body. In a file large
    enough for a skeleton, a long call in the ``finally:`` (a value the skeleton would
    otherwise replace by ``0``) must still be seen, or the rule reports a missing call."""
    from pytest_gridgate.settings import RequiredFinally

    settings = ScanSettings(
        required_finally=(
            RequiredFinally(function="ToolRunner.run", call="update_execution_metrics", path="**"),
        )
    )
    arguments = ", ".join(f"value_{i}" for i in range(40))
    filler = "".join(f"    total = total + {i}\n" for i in range(400))
    source = (
        "class ToolRunner:\n"
        "    def run(self, job):\n"
        "        try:\n            return job()\n"
        f"        finally:\n            self.update_execution_metrics({arguments})\n"
        f"def other(total):\n{filler}    return total\n"
    ).encode()
    assert check_python("app/tool_runner.py", source, settings, everything) == []
    broken = source.replace(b"self.update_execution_metrics(", b"self.log(")
    found = check_python("app/tool_runner.py", broken, settings, everything)
    assert [(f.rule, f.line) for f in found] == [("GG007", 2)]


@pytest.mark.parametrize(
    ("source", "rule"),
    [
        (b"import sys\ndef f():\n    sys.exit(1)\n", "GG004"),
        (b"import sys\ndef f():\n    sys.exit \\\n        (1)\n", "GG004"),
        (b"import sys\ndef f():\n    (sys.exit)(1)\n", "GG004"),
        (b"import sys\ndef f():\n    g(sys.exit  # why\n      (1))\n", "GG004"),
        (b"import sys\ndef f():\n    g(sys.exit\r\n      (1))\n", "GG004"),
        (b"import sys\ndef f():\n    sys.exit\t\f(1)\n", "GG004"),
        (b"from sys import exit as stop\ndef f():\n    stop(1)\n", "GG004"),
        (b"from sys import (exit\n    as stop)\ndef f():\n    stop(1)\n", "GG004"),
        (b"import subprocess\nsubprocess.run('ls', timeout=9, shell=True)\n", "GG005"),
        (b"import subprocess\nsubprocess.run('ls', timeout=9, shell\n    =True)\n", "GG005"),
        (b"import subprocess\nsubprocess.run('ls', timeout=9, shell  # why\n    =True)\n", "GG005"),
        (b"import subprocess\nsubprocess.run('ls', timeout=9, shell \\\n    =True)\n", "GG005"),
        (b"import asyncio\ndef f(loop):\n    loop.run_until_complete\\\n(g())\n", "GG002"),
        (b"import sys\ndef f():\n    g((sys.exit\n      )(1))\n", "GG004"),
        (b"import sys\ndef f():\n    (sys).exit(1)\n", "GG004"),
        (b"import sys\ndef f():\n    sys . exit(1)\n", "GG004"),
        (b"import sys as system\ndef f():\n    system.exit(1)\n", "GG004"),
        (b"from os import (path,  # why\n    _exit)\ndef f():\n    _exit(1)\n", "GG004"),
        (b"import os.path, sys as \\\n    s\ndef f():\n    s.exit(1)\n", "GG004"),
        (
            b"from asyncio import (sleep,\n    subprocess as\n  # why\n    sp)\n"
            b"sp.create_subprocess_shell('ls')\n",
            "GG005",
        ),
        (b"import os\ndef f(exit):\n    os.system('ls')\n", "GG005"),
        (b"import builtins\ndef f():\n    builtins.exit(1)\n", "GG004"),
        (b"import asyncio as aio\nasync def f():\n    aio.get_event_loop()\n", "GG001"),
        (b"import subprocess\nsubprocess.run('ls', timeout=9, shell=(True))\n", "GG005"),
        (b"import subprocess\nsubprocess.run('ls', timeout=9, shell=\n    True)\n", "GG005"),
        (b"import subprocess\nsubprocess.run('ls', timeout=9, shell=  # why\n  True)\n", "GG005"),
        (b"import sys\nSEP = '#'; sys.exit(1)\n", "GG004"),
        (b'import sys\nSEP = "#"; sys.exit(1)\n', "GG004"),
    ],
)
def test_a_callee_or_keyword_spelled_any_way_a_call_allows_is_found(
    source: bytes, rule: str
) -> None:
    # The byte tier counts a callee's name only where a call (or an import alias) can
    # follow it and a keyword only where `=` can: every spelling Python allows must pass.
    assert [f.rule for f in check_python("m.py", source, SETTINGS, everything)] == [rule]


@pytest.mark.parametrize(
    "source",
    [
        b"import sys\n# exit the loop when done\n",
        b"import sys\ndef f():\n    '''Exit and quit are words.'''\n",
        b"import subprocess\nRUN = 'the shell is True to its name'\n",
        # Words that are a call's only in prose, or a call that cannot resolve to a target.
        b"import sys\ndef f():\n    '''Exit\n    and quit are words (exit) or calls.'''\n",
        b"import os, platform\nplatform.system()\n",
        b"import os\ndef system(command):\n    pass\nclass popen(object):\n    pass\n",
        b"import smtplib\nwith smtplib.SMTP() as smtp:\n    smtp.quit()\n",
        b"import sys\ntry:\n    pass\nexcept OSError as thread:\n    thread.exit()\n",
        b"import os\nos.environ[0].system('ls')\nos.getcwd().system('ls')\n",
        b"import asyncio\nasyncio.get_event_loop_policy().get_event_loop()\n",
        b"import subprocess\nsubprocess.Popen(['ls'], shell=False)\nx = True\n",
        b"import subprocess\nsubprocess.Popen(['ls'])\nshell == True\n",
        b"import sys\ndef f():\n    return 1  # sys.exit(1) was here\n",
        b"import subprocess\n#    subprocess.Popen(command, shell=True)\n",
    ],
)
def test_a_callee_or_keyword_in_prose_passes_no_byte_tier(source: bytes) -> None:
    # Such a file needs no ast at all, only the syntax check.
    rules = [cls(SETTINGS, "m.py") for cls in RULES.values()]
    assert past_tokens(source, rules) == []
    assert check_python("m.py", source, SETTINGS, everything) == []


def test_comments_after_a_callee_are_read_in_linear_time() -> None:
    # A comment pattern that could end anywhere split `# a # a ...` in 2**n ways before the
    # byte tier gave up on the name (n = 20 took seconds, n = 60 would never end): the
    # test finishes at once or runs into the suite's timeout.
    comment = b" # a" * 60
    source = b"import sys, subprocess\nsys.exit" + comment + b"\nx = 1\nshell" + comment + b"\n"
    rules = [cls(SETTINGS, "m.py") for cls in RULES.values()]
    assert past_tokens(source, rules) == []
    # In brackets the next line's `(` would call it: the byte tier cannot tell, so it counts.
    continued = source.replace(b"\nx = 1", b"\n(1)")
    assert [r.code for r in past_tokens(continued, rules)] == ["GG004"]


def test_a_checked_file_leaves_no_ast_to_the_cyclic_collector() -> None:
    # The checker keeps the cyclic collector off while it works, so a tree caught in a
    # reference cycle (the skeleton's recursive closure held the stubbed definitions) was
    # walked and freed by the next collection: a third of a second over the stdlib.
    import gc

    functions = "".join(f"def f{i}(x):\n    return [x * {i}]\n\n" for i in range(200))
    source = f"import sys\n{functions}def stop():\n    sys.exit(1)\n".encode()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        found = check_python("m.py", source, SETTINGS, everything)
        gc.collect()
        left = [type(o).__name__ for o in gc.garbage if isinstance(o, ast.AST)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert [f.rule for f in found] == ["GG004"]
    assert left == []


def test_statement_bodies_lists_every_block_in_source_order() -> None:
    from scanners.rules.ast_facts import statement_bodies

    source = (
        "match x:\n    case 1:\n        a = 1\n    case _:\n        b = 1\n"
        "try:\n    c = 1\nexcept E:\n    d = 1\nelse:\n    e = 1\nfinally:\n    f = 1\n"
        "for i in x:\n    g = 1\nelse:\n    h = 1\n"
        "while x:\n    i = 1\n"
        "if x:\n    j = 1\nelif y:\n    k = 1\n"
        "async def m():\n    async with a:\n        n = 1\n"
        "class C:\n    o = 1\n"
        "p = 1\n"
    )
    if sys.version_info >= (3, 11):
        source += "try:\n    q = 1\nexcept* E:\n    r = 1\n"

    def names(statement: ast.stmt) -> list[list[str]]:
        return [
            [ast.unparse(inner).split()[0] for inner in body]
            for body in statement_bodies(statement)
        ]

    found = [names(statement) for statement in ast.parse(source).body]
    expected = [
        [["a"], ["b"]],
        [["c"], ["d"], ["e"], ["f"]],
        [["g"], ["h"]],
        [["i"], []],
        [["j"], ["if"]],
        [["async"]],
        [["o"]],
        [],
    ]
    if sys.version_info >= (3, 11):
        expected.append([["q"], ["r"], [], []])
    assert found == expected
