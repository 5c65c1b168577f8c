"""``gridgate init``: write the GitHub Actions workflow templates into a repository.

The templates are data (``workflows/`` in the source tree, ``pytest_gridgate/_workflows``
inside the wheel). Rendering is a plain, explicit substitution of ``[[name]]`` placeholders
with values validated here, so a generated workflow never contains anything the options
did not spell out; an unknown placeholder is a bug and fails loudly.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import re
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_gridgate import __version__
from pytest_gridgate.whole_file import write_whole

if TYPE_CHECKING:
    from importlib.abc import Traversable

# template name -> (file written, templates it needs)
TEMPLATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "gate": ("gridgate.yml", ()),
    "reusable": ("gridgate-reusable.yml", ()),
    "caller": ("gridgate-caller.yml", ("reusable",)),
}
_PLACEHOLDER = re.compile(r"\[\[([a-z_]+)\]\]")
_VERSION = re.compile(r"^(?:pypy)?3\.(\d{1,2})(-dev)?$")
MIN_MINOR = 10  # requires-python = ">=3.10"
# Characters that would need quoting in YAML or the shell; install words stay plain
# (the reusable workflow splits its install input on spaces, without quotes).
_UNSAFE = re.compile(r"[\s\"'`$\\;&|<>(){}#]")
# A requirement, URL or path for pip: a git URL may carry "#egg=" or "#subdirectory=".
_UNSAFE_SPEC = re.compile(r"[\s\"'`$\\;&|<>(){}]")
_NAMES_GRIDGATE = re.compile(r"^pytest[-_]gridgate\b", re.IGNORECASE)

DEFAULT_PYTHONS = ("3.10", "3.11", "3.12", "3.13")
# A GitHub matrix has at most 256 jobs: shards x Python versions must fit.
MAX_SHARDS = 64
DEFAULT_INSTALL = ("-e", ".[test]")
# The gridgate that wrote the workflow is the one it installs, not whatever the index has.
DEFAULT_SPEC = f"pytest-gridgate=={__version__}"


class UsageError(Exception):
    """Bad options: one line, exit 2."""


@dataclass(frozen=True)
class Options:
    pythons: tuple[str, ...] = DEFAULT_PYTHONS
    installer: str = "pip"
    install: tuple[str, ...] = DEFAULT_INSTALL
    gridgate_spec: str = DEFAULT_SPEC  # "": --install already brings gridgate
    source: tuple[str, ...] = (".",)
    pytest_args: tuple[str, ...] = ()
    coverage_threshold: int = 80
    session_minutes: int = 30
    branches: tuple[str, ...] = ("main",)
    templates: tuple[str, ...] = ("gate",)
    shards: int = 1  # machines per Python version's test run (reusable workflow only)

    def command_line(self) -> str:
        """The ``gridgate init`` invocation that regenerates these files."""
        args = ["gridgate", "init", "--python", ",".join(self.pythons)]
        args += ["--installer", self.installer, "--install=" + " ".join(self.install)]
        args += ["--gridgate-spec=" + self.gridgate_spec]
        args += ["--source", ",".join(self.source)]
        if self.pytest_args:
            args += ["--pytest-args=" + shlex.join(self.pytest_args)]
        args += ["--coverage-threshold", str(self.coverage_threshold)]
        args += ["--session-minutes", str(self.session_minutes)]
        args += ["--branch", ",".join(self.branches)]
        if self.shards != 1:
            args += ["--shards", str(self.shards)]
        for template in self.templates:
            args += ["--template", template]
        return shlex.join(args)


def template_directory() -> Traversable:
    """The templates: inside the installed package, else ``workflows/`` of the checkout."""
    packaged = importlib.resources.files("pytest_gridgate") / "_workflows"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "workflows"


def install_words(options: Options) -> tuple[str, ...]:
    """What ``pip install`` gets: the project, then gridgate unless --install names it."""
    named = any(_NAMES_GRIDGATE.match(word) for word in options.install)
    if named or not options.gridgate_spec:
        return options.install
    return (*options.install, options.gridgate_spec)


def _install_lines(options: Options) -> list[str]:
    words = shlex.join(install_words(options))
    if options.installer == "uv":
        return ["python -m pip install uv", f"uv pip install --system {words}"]
    return [f"python -m pip install {words}"]


def _flow_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar: JSON's string syntax is valid YAML."""
    return json.dumps(text)


def values(options: Options) -> dict[str, str | list[str]]:
    """Placeholder values; a list renders as lines at the placeholder's indentation.

    A value written by the user is either validated to plain characters, quoted here, or
    placed by the template inside a block scalar (``run: |``, ``run: >-``), where YAML
    takes every character as text; :func:`check_rendered` re-reads the result.
    """
    session_seconds = options.session_minutes * 60
    return {
        "header": (
            f"Generated by pytest-gridgate {__version__}. Regenerate, do not edit:\n"
            f"# {options.command_line()} --force"
        ),
        "branches": _flow_list(options.branches),
        "python_versions": _flow_list(options.pythons),
        "main_python": options.pythons[-1],
        "installer": options.installer,
        "install": _install_lines(options),
        "install_args": _quoted(" ".join(install_words(options))),
        "source": ",".join(options.source),
        "source_quoted": _quoted(",".join(options.source)),
        "pytest_args": "".join(" " + shlex.quote(arg) for arg in options.pytest_args),
        # PYTEST_ADDOPTS, which pytest splits like a shell.
        "pytest_args_words": _quoted(shlex.join(options.pytest_args)),
        "coverage_threshold": str(options.coverage_threshold),
        "session_seconds": str(session_seconds),
        # Install time and the hard-kill grace on top of the in-process budget.
        "test_timeout_minutes": str(options.session_minutes + 15),
        "collection_seconds": "300",
        "shards": str(options.shards),
    }


def render(text: str, options: Options) -> str:
    table = values(options)

    def substitute(match: re.Match[str]) -> str:
        value = table[match.group(1)]  # KeyError: a template uses an unknown name
        if isinstance(value, str):
            return value
        line_start = text.rfind("\n", 0, match.start()) + 1
        indent = " " * (match.start() - line_start)
        return ("\n" + indent).join(value)

    return _PLACEHOLDER.sub(substitute, text)


def rendered_files(options: Options) -> dict[str, str]:
    """File name -> content for the selected templates (dependencies included)."""
    wanted: list[str] = []
    for name in options.templates:
        for needed in (*TEMPLATES[name][1], name):
            if needed not in wanted:
                wanted.append(needed)
    directory = template_directory()
    if "gate" not in wanted:
        # The reusable workflow hands the options to pytest through inputs, where no scanner
        # reads them; the gate template spells them out, so it vets them for every template.
        gate = TEMPLATES["gate"][0]
        check_rendered(gate, render(directory.joinpath(gate).read_text("utf-8"), options), options)
    files = {}
    for name in wanted:
        filename = TEMPLATES[name][0]
        text = directory.joinpath(filename).read_text(encoding="utf-8")
        files[filename] = check_rendered(filename, render(text, options), options)
    return files


def check_rendered(filename: str, text: str, options: Options) -> str:
    """``text`` if it is the workflow the options describe, else a UsageError.

    Re-read as YAML, every user-given value must come back as written (a value that YAML
    would have read differently, or not at all, never reaches the disk), and gridgate's
    own workflow scanner must find nothing: options that switch a gate off (``-p
    no:gridgate``, ``--timeout=0``, ...) would write a workflow that fails its own scan.
    """
    import yaml

    from pytest_gridgate.settings import ScanSettings
    from scanners.workflow import check_workflow

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"the options make {filename} invalid YAML: {exc}") from None
    scalars = "\n".join(_strings(data))
    expected = [*install_words(options), ",".join(options.source)]
    # The gate template writes the arguments into commands, the others into an input.
    quoted_args = "".join(" " + shlex.quote(arg) for arg in options.pytest_args)
    expected.append(quoted_args if filename == TEMPLATES["gate"][0] else quoted_args.strip())
    for value in expected:
        if value and value not in scalars:
            raise UsageError(f"the options do not survive YAML in {filename}: {value!r}")
    findings = check_workflow(filename, text.encode(), ScanSettings(), lambda code: True)
    if findings:
        first = findings[0]
        raise UsageError(
            f"the options write a workflow that fails gridgate's own scan: {filename}:"
            f"{first.line}: {first.rule} {first.message}"
        )
    return text


def _strings(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in (*_strings(key), *_strings(value))]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return []


def find_git_root(start: Path) -> Path | None:
    for directory in [start, *start.parents]:
        if (directory / ".git").exists():
            return directory
    return None


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gridgate init",
        description="Write the gridgate GitHub Actions workflows into .github/workflows/ "
        "of the current git repository.",
        # Every option shows its default, so --help says what a bare `gridgate init` writes.
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add(
        "--python",
        default=",".join(DEFAULT_PYTHONS),
        help="comma-separated Python versions for the test matrix, 3.10 or newer",
    )
    add("--installer", choices=("pip", "uv"), default="pip", help="what installs the project")
    add(
        "--install",
        default=" ".join(DEFAULT_INSTALL),
        help="what installs the project and its test dependencies, as pip arguments",
    )
    add(
        "--gridgate-spec",
        default=DEFAULT_SPEC,
        metavar="SPEC",
        help="where gridgate comes from: a requirement, a git URL "
        "(git+https://github.com/OWNER/pytest-gridgate@TAG) or a path; '' when --install "
        "already installs it",
    )
    add("--source", default=".", help="comma-separated paths or packages to measure")
    add(
        "--pytest-args",
        default="",
        help="extra arguments for every pytest run, split like a shell command line",
    )
    add("--coverage-threshold", type=int, default=80, help="percent, 1-100")
    add("--session-minutes", type=int, default=30, help="in-process budget per test job")
    add("--branch", default="main", help="comma-separated branches that run on push")
    add(
        "--template",
        action="append",
        choices=sorted(TEMPLATES),
        help="gate (when none is given), reusable, caller (implies reusable); repeatable",
    )
    add(
        "--shards",
        type=int,
        default=1,
        help=f"machines that share each Python version's tests (1-{MAX_SHARDS}); more than "
        "one needs the reusable workflow, so the caller template is the default then",
    )
    add("--force", action="store_true", help="overwrite existing files")
    add("--dry-run", action="store_true", help="print what would be written, write nothing")
    return parser


def _pythons(text: str) -> tuple[str, ...]:
    pythons = _csv(text)
    if not pythons:
        raise UsageError(f"--python: expected versions like 3.12, got {text!r}")
    for version in pythons:
        match = _VERSION.match(version)
        if not match:
            raise UsageError(f"--python: expected versions like 3.12, got {version!r}")
        if int(match.group(1)) < MIN_MINOR:
            raise UsageError(
                f"--python: {version} is too old: pytest-gridgate needs Python 3.{MIN_MINOR}+"
            )
    return pythons


def _pytest_args(text: str) -> tuple[str, ...]:
    try:
        args = tuple(shlex.split(text))
    except ValueError as exc:
        raise UsageError(f"--pytest-args: {exc}") from None
    if any("\n" in arg or "${{" in arg for arg in args):
        raise UsageError("--pytest-args: no line breaks or ${{ expressions }}")
    return args


def _options(ns: argparse.Namespace) -> Options:
    pythons = _pythons(ns.python)
    install = tuple(ns.install.split())
    if not install or any(_UNSAFE.search(word) for word in install):
        raise UsageError("--install: expected plain pip arguments without quotes or shell syntax")
    spec = ns.gridgate_spec.strip()
    if _UNSAFE_SPEC.search(spec) or spec.startswith("-"):
        raise UsageError(
            f"--gridgate-spec: expected one requirement, URL or path, got {ns.gridgate_spec!r}"
        )
    if spec != DEFAULT_SPEC and any(_NAMES_GRIDGATE.match(word) for word in install):
        raise UsageError("--gridgate-spec: --install already names pytest-gridgate")
    source = _csv(ns.source)
    if not source or any(_UNSAFE.search(s) or s.startswith("-") for s in source):
        raise UsageError(f"--source: expected comma-separated paths, got {ns.source!r}")
    pytest_args = _pytest_args(ns.pytest_args)
    if not 1 <= ns.coverage_threshold <= 100:
        raise UsageError("--coverage-threshold: expected a percentage from 1 to 100")
    if not 1 <= ns.session_minutes <= 300:
        raise UsageError("--session-minutes: expected 1 to 300")
    if not 1 <= ns.shards <= MAX_SHARDS:
        raise UsageError(f"--shards: expected 1 to {MAX_SHARDS}, got {ns.shards}")
    if ns.shards * len(pythons) > 256:
        raise UsageError("--shards: shards x Python versions exceeds GitHub's 256 jobs a matrix")
    templates = tuple(dict.fromkeys(ns.template or ["caller" if ns.shards > 1 else "gate"]))
    if ns.shards > 1 and "gate" in templates:
        # The single-file template has no shard matrix and gate job that merges; sharding
        # lives in the reusable workflow, which the caller template calls.
        raise UsageError("--shards: the gate template runs unsharded; use --template caller")
    branches = _csv(ns.branch)
    if not branches or any(_UNSAFE.search(b) for b in branches):
        raise UsageError(f"--branch: expected branch names, got {ns.branch!r}")
    return Options(
        pythons=pythons,
        installer=ns.installer,
        install=install,
        gridgate_spec=spec,
        source=source,
        pytest_args=pytest_args,
        coverage_threshold=ns.coverage_threshold,
        session_minutes=ns.session_minutes,
        branches=branches,
        templates=templates,
        shards=ns.shards,
    )


_COVERAGE_NOTE = """\
gridgate init: note: the test job measures xdist workers, which are subprocesses; add this
to pyproject.toml or the job's first check fails:

    [tool.coverage.run]
    patch = ["subprocess"]
"""


def _measures_subprocesses(root: Path) -> bool:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    run = data.get("tool", {}).get("coverage", {}).get("run", {})
    return isinstance(run, dict) and "subprocess" in (run.get("patch") or [])


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    ns = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        options = _options(ns)
    except UsageError as exc:
        print(f"gridgate init: error: {exc}", file=sys.stderr)
        return 2
    root = find_git_root(Path.cwd())
    if root is None:
        print(
            f"gridgate init: error: {Path.cwd()} is not inside a git repository; "
            "run it from your repository (or `git init` first)",
            file=sys.stderr,
        )
        return 2
    target = root / ".github" / "workflows"
    try:
        files = rendered_files(options)
    except UsageError as exc:
        print(f"gridgate init: error: {exc}", file=sys.stderr)
        return 2
    existing = [target / name for name in files if (target / name).exists()]
    if existing and not ns.force and not ns.dry_run:
        names = ", ".join(str(path) for path in existing)
        print(f"gridgate init: error: {names} exists; use --force to overwrite", file=sys.stderr)
        return 1
    for name, content in files.items():
        path = target / name
        if ns.dry_run:
            print(f"# would write {path}")
            print(content, end="")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        write_whole(path, content)
        print(f"wrote {path}")
    if not _measures_subprocesses(root):
        print(_COVERAGE_NOTE, file=sys.stderr, end="")
    return 0
