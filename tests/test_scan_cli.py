"""``gridgate scan`` end to end: configuration, suppressions, outputs, entry points.

One small project is scanned once cold; the other formats and commands then come from the
cache, which is also what proves that a warm run reports exactly what a cold one did.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent

PYPROJECT = """
[tool.gridgate.scan]
paths = ["src", ".github"]
exclude = ["src/generated"]
per_file_ignores = { "src/pkg/cli_main.py" = ["GG004"] }

[[tool.gridgate.scan.forbidden_calls]]
call = "plugin.run"
allow_in = ["**/tool_runner.py", "**/old_runner.py"]
message = "100% forbidden: use ToolRunner"
"""

FILES = {
    "src/pkg/__init__.py": "",
    "src/pkg/loops.py": """\
        import asyncio


        async def handler():
            loop = asyncio.get_event_loop()
            return loop
        """,
    "src/pkg/shell.py": """\
        import os
        import subprocess

        os.system("a")  # gridgate: ignore[GG005] legacy script
        # gridgate: ignore[GG005] reviewed
        # gridgate: ignore[GG006] second
        subprocess.run("b", shell=True)
        os.system("c")  # gridgate: ignore
        TEXT = "# gridgate: ignore[GG005]"
        os.system(TEXT)
        x = 1  # gridgate: ignore[GG001,GG005]
        """,
    "src/pkg/cli_main.py": "import sys\n\nsys.exit(1)\n",
    "src/pkg/tool_runner.py": "def run(plugin):\n    plugin.run()\n",
    "src/pkg/other.py": "def go(plugin):\n    plugin.run()\n",
    "src/pkg/we,ird.py": "import os\n\nos.system('x')\n",
    "src/generated/gen.py": "import os\n\nos.system('x')\n",
    "src/notes.yml": "jobs:\n  a:\n    timeout-minutes: 5\n    steps:\n      - run: make || true\n",
    ".github/workflows/ci.yml": """\
        on: push
        jobs:
          test:
            runs-on: ubuntu-latest
            timeout-minutes: 10
            steps:
              - run: |
                  make lint || true  # gridgate: ignore[GW001] advisory
                  make test || true
        """,
}

EXPECTED_TEXT = """\
.github/workflows/ci.yml:9:11: GW001 {gw001}
pyproject.toml:9:35: GG003 {stale}
src/pkg/loops.py:5:12: GG001 {gg001} [*]
src/pkg/other.py:2:5: GG003 {gg003}
src/pkg/shell.py:8:1: GG005 {gg005}
src/pkg/shell.py:8:17: GG011 {bare}
src/pkg/shell.py:10:1: GG005 {gg005}
src/pkg/shell.py:11:8: GG012 unused suppression: no GG001 finding on line 11
src/pkg/shell.py:11:8: GG012 unused suppression: no GG005 finding on line 11
src/pkg/we,ird.py:3:1: GG005 {gg005}
Found 10 findings (8 files scanned).
1 fixable with --fix (preview with --diff).
4 suppressed by `# gridgate: ignore[...]`.
"""


def write_project(root: Path) -> None:
    (root / "pyproject.toml").write_text(PYPROJECT)
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def run(
    cwd: Path, *args: str, command: tuple[str, ...] = (sys.executable, "-m", "scanners")
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, *args], cwd=cwd, capture_output=True, text=True, timeout=240, check=False
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scan-project")
    write_project(root)
    return root


@pytest.fixture(scope="module")
def cold_text(project: Path) -> subprocess.CompletedProcess[str]:
    return run(project)


def messages(text: str) -> dict[str, str]:
    """The rules' own messages, so the expected report does not restate the rules."""
    by_rule: dict[str, str] = {}
    for line in text.splitlines():
        if ": G" in line and not line.startswith("pyproject.toml"):
            rule, _, message = line.split(": ", 1)[1].partition(" ")
            by_rule.setdefault(rule, message.removesuffix(" [*]"))
    return by_rule


def test_text_report_with_config_suppressions_and_stale_allow_in(
    cold_text: subprocess.CompletedProcess[str],
) -> None:
    assert cold_text.returncode == 1, cold_text.stderr
    assert cold_text.stderr == ""
    m = messages(cold_text.stdout)
    assert "100% forbidden: use ToolRunner" in m["GG003"]
    expected = EXPECTED_TEXT.format(
        gw001=m["GW001"],
        gg001=m["GG001"],
        gg003=m["GG003"],
        gg005=m["GG005"],
        stale="scan.forbidden_calls[0].allow_in: '**/old_runner.py' (for 'plugin.run') "
        "matches no scanned file; remove or correct it",
        bare="bare `# gridgate: ignore` suppresses nothing; name the codes: "
        "`# gridgate: ignore[CODE] reason`",
    )
    assert cold_text.stdout == expected


def test_json_report_is_version_1(
    project: Path, cold_text: subprocess.CompletedProcess[str]
) -> None:
    result = run(project, "--format", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert set(report) == {"version", "files_scanned", "findings"}
    assert report["version"] == 1
    assert report["files_scanned"] == 8
    first = report["findings"][0]
    assert set(first) == {
        "rule", "name", "path", "line", "column", "message", "severity", "fixable"
    }  # fmt: skip
    assert [f["rule"] for f in report["findings"]] == [
        line.split(" ")[1] for line in cold_text.stdout.splitlines() if ": G" in line
    ]
    gg001 = next(f for f in report["findings"] if f["rule"] == "GG001")
    assert gg001 == {
        "rule": "GG001",
        "name": "get-event-loop",
        "path": "src/pkg/loops.py",
        "line": 5,
        "column": 12,
        "message": gg001["message"],
        "severity": "error",
        "fixable": True,
    }


def test_sarif_report(project: Path, cold_text: subprocess.CompletedProcess[str]) -> None:
    out = project / "report.sarif"
    result = run(project, "--format", "sarif", "--output", str(out))
    assert result.returncode == 1
    assert result.stdout == ""
    sarif = json.loads(out.read_text())
    assert sarif["version"] == "2.1.0"
    (run_,) = sarif["runs"]
    rules = run_["tool"]["driver"]["rules"]
    ids = [rule["id"] for rule in rules]
    assert ids == sorted(ids)
    assert {"GG000", "GG001", "GG010", "GG011", "GG012", "GW001", "GW006"} <= set(ids)
    gg001_rule = rules[ids.index("GG001")]
    assert gg001_rule["name"] == "get-event-loop"
    assert "get_running_loop" in gg001_rule["help"]["text"]
    results = run_["results"]
    for result_ in results:
        assert rules[result_["ruleIndex"]]["id"] == result_["ruleId"]
    reported = [r for r in results if "suppressions" not in r]
    assert len(reported) == 10
    suppressed = [r for r in results if "suppressions" in r]
    assert sorted(
        (r["ruleId"], r["suppressions"][0]["justification"]) for r in suppressed
    ) == [("GG005", "legacy script"), ("GG005", "reviewed"), ("GG006", "second"),
          ("GW001", "advisory")]  # fmt: skip
    assert all(r["suppressions"][0]["kind"] == "inSource" for r in suppressed)
    (fixable,) = [r for r in results if "fixes" in r]
    (change,) = fixable["fixes"][0]["artifactChanges"]
    assert change["artifactLocation"]["uri"] == "src/pkg/loops.py"
    (replacement,) = change["replacements"]
    assert replacement["deletedRegion"]["startLine"] == 5
    assert "asyncio.get_running_loop()" in replacement["insertedContent"]["text"]


def test_github_annotations_are_escaped(
    project: Path, cold_text: subprocess.CompletedProcess[str]
) -> None:
    result = run(project, "--format", "github")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert sum(line.startswith("::error ") for line in lines) == 10
    assert (
        "::error file=src/pkg/we%2Cird.py,line=3,col=1,endLine=3,endColumn=15,title=GG005::"
        in result.stdout
    )
    gg003 = next(line for line in lines if "title=GG003" in line and "other.py" in line)
    assert "100%25 forbidden: use ToolRunner" in gg003
    assert lines[-3] == "Found 10 findings (8 files scanned)."


def test_three_commands_are_one(project: Path, cold_text: subprocess.CompletedProcess[str]) -> None:
    for command in ((str(BIN / "gridgate"), "scan"), (str(BIN / "gridgate-scan"),)):
        result = run(project, command=command)
        assert (result.returncode, result.stdout) == (1, cold_text.stdout)


def test_warm_run_imports_no_libcst_and_sees_edits(tmp_path: Path) -> None:
    write_project(tmp_path)
    probe = (
        "import sys; from scanners.command import main; code = main(sys.argv[1:]); "
        "print('libcst loaded:', 'libcst' in sys.modules); sys.exit(code)"
    )

    def scan(*args: str) -> subprocess.CompletedProcess[str]:
        return run(tmp_path, *args, command=(sys.executable, "-c", probe))

    cold = scan()
    assert "libcst loaded: True" in cold.stdout
    assert (tmp_path / ".gridgate_cache" / ".gitignore").read_text().strip().endswith("*")
    warm = scan()
    assert "libcst loaded: False" in warm.stdout
    assert warm.stdout.replace("False", "True") == cold.stdout

    # Content is the key: an edited file is rescanned, the others still hit.
    (tmp_path / "src/pkg/other.py").write_text("def go(plugin):\n    return plugin\n")
    edited = scan()
    assert "src/pkg/other.py" not in edited.stdout
    assert "Found 9 findings" in edited.stdout
    # So is the configuration: ignoring a rule is not answered from the old results.
    ignored = scan("--ignore", "GG005")
    assert "GG005" not in ignored.stdout
    assert "Found 5 findings" in ignored.stdout


def test_no_cache_writes_nothing_and_select_narrows(tmp_path: Path) -> None:
    write_project(tmp_path)
    result = run(tmp_path, "--no-cache", "--select", "GG00", "--ignore", "GG003,GG005")
    assert not (tmp_path / ".gridgate_cache").exists()
    assert [line.split(" ")[1] for line in result.stdout.splitlines() if ": G" in line] == ["GG001"]


def test_explicit_paths_and_relative_output(tmp_path: Path) -> None:
    write_project(tmp_path)
    result = run(tmp_path / "src" / "pkg", "shell.py", "../notes.yml", "--select", "GG005,GW")
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if ": G" in line]
    # An explicitly named YAML file is checked as a workflow; no stale allow_in for a subset.
    assert lines[0].startswith("../notes.yml:5:")
    assert "GW001" in lines[0]
    assert [line.split(":")[0] for line in lines[1:]] == ["shell.py", "shell.py"]
    assert "Found 3 findings (2 files scanned)." in result.stdout


def test_config_flag_and_gridgate_yaml(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "gridgate.yaml").write_text("scan:\n  select: [GG005]\n")
    (tmp_path / "conf" / "mod.py").write_text("import os\nimport sys\nos.system('x')\nsys.exit()\n")
    result = run(tmp_path, "--config", "conf/gridgate.yaml")
    assert result.stdout.startswith("conf/mod.py:3:1: GG005 ")
    assert "Found 1 finding (1 file scanned)." in result.stdout


def json_findings(stdout: str) -> list[dict[str, Any]]:
    findings: list[dict[str, Any]] = json.loads(stdout)["findings"]
    return findings


def test_environment_overrides_config(tmp_path: Path) -> None:
    write_project(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "scanners", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "GRIDGATE_SCAN_SELECT": "GG011"},
        check=False,
        timeout=240,
    )
    assert [f["rule"] for f in json_findings(result.stdout)] == ["GG011"]


def test_pre_commit_hook_runs_the_scanner_on_the_staged_files(project: Path) -> None:
    import yaml

    root = Path(__file__).resolve().parent.parent
    (hook,) = yaml.safe_load((root / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "gridgate-scan"
    assert (hook["entry"], hook["language"]) == ("gridgate-scan --pre-commit", "python")
    assert hook["types_or"] == ["python", "yaml"]
    assert hook.get("pass_filenames", True)
    # What pre-commit runs: the entry with the staged file names appended.
    program, *options = hook["entry"].split()
    entry = (str(BIN / program), *options)
    result = run(project, "src/pkg/loops.py", "src/pkg/tool_runner.py", command=entry)
    assert result.returncode == 1
    assert [line.split(":")[0] for line in result.stdout.splitlines() if ": G" in line] == [
        "src/pkg/loops.py"
    ]
    # Under pre-commit scan.exclude applies to the staged files, and a commit that stages
    # only excluded files passes: no file to scan is no error there.
    excluded = run(project, "src/generated/gen.py", command=entry)
    assert (excluded.returncode, excluded.stderr) == (0, "")
    assert "All checks passed (0 files scanned)." in excluded.stdout
    # Outside pre-commit the same command line scans the named file, excluded or not.
    named = run(project, "src/generated/gen.py", command=(str(BIN / program),))
    assert named.returncode == 1
    assert named.stdout.startswith("src/generated/gen.py:3:1: GG005 ")


def test_several_reports_from_one_run(
    project: Path, cold_text: subprocess.CompletedProcess[str]
) -> None:
    sarif, data = project / "one-run.sarif", project / "one-run.json"
    result = run(
        project,
        *("--format", "github", "--format", "sarif", "--output", str(sarif)),
        *("--format", "json", "--output", str(data)),
    )
    assert result.returncode == 1
    assert result.stdout.startswith("::error file=.github/workflows/ci.yml,")
    assert json.loads(sarif.read_text())["version"] == "2.1.0"
    assert len(json.loads(data.read_text())["findings"]) == 10
    misplaced = run(project, "--output", "a", "--format", "json", "--format", "sarif")
    assert misplaced.returncode == 2
    assert "put it after the --format it is for" in misplaced.stderr


def test_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "gridgate.yaml").write_text("scan:\n  paths: [src, not_yet]\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "ok.py").write_text("x = 1\n")
    configured = run(tmp_path)
    assert configured.returncode == 0
    assert configured.stderr == (
        "gridgate scan: warning: gridgate.yaml: scan.paths: 'not_yet' does not exist\n"
    )
    named = run(tmp_path, "src", "missing.py")
    assert named.returncode == 2
    assert named.stderr == "gridgate scan: path not found: missing.py\n"


def test_output_does_not_depend_on_the_number_of_workers(
    project: Path, cold_text: subprocess.CompletedProcess[str]
) -> None:
    for jobs in ("1", "3"):
        result = run(project, "--no-cache", "--jobs", jobs)
        assert result.stdout == cold_text.stdout
