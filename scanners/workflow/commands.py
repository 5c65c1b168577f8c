"""Which program a shell command runs, and whether its exit status is a gate's verdict.

The workflow rules judge commands by what they run: ``cmd || true`` matters when ``cmd``
is a test run, a linter or a build, not when it is ``dpkg --configure -a`` or a ``grep``
in a release script. :func:`command_name` looks through wrappers (``uv run``,
``python -Im``, ``timeout 10m``, ``xargs -n1``, ``bash script.sh``...) to the program;
:func:`gate_name` says whether that program, with its subcommand, is a gate.
"""

from __future__ import annotations

import re

# Programs whose exit status is a verdict, whatever their arguments (except --version).
GATE_COMMANDS = frozenset(
    {
        "pytest", "py.test", "tox", "nox", "mypy", "dmypy", "ruff", "flake8", "pylint",
        "pyright", "basedpyright", "pytype", "bandit", "black", "isort", "coverage",
        "gridgate", "gridgate-scan", "scanners", "pre-commit", "prek", "make", "unittest",
        "check-jsonschema", "zizmor", "codespell", "pydocstyle", "pyflakes", "pycodestyle",
        "interrogate", "vulture", "deptry", "pip-audit", "sphinx-build", "build",
        "twine", "hatch", "doctest", "nosetests", "trial", "mkdocs", "check-manifest",
        "pyroma", "slotscheck", "actionlint", "shellcheck", "yamllint", "typos",
    }
)  # fmt: skip
# Programs that run the tests (for PYTEST_DISABLE_PLUGIN_AUTOLOAD: they start pytest).
TEST_RUNNERS = frozenset({"pytest", "py.test", "tox", "nox", "make", "hatch"})

# Subcommands that are housekeeping, not a verdict: `coverage combine || true` masks nothing.
_NOT_GATES = {
    "coverage": frozenset({"combine", "erase", "debug", "annotate"}),
    "pre-commit": frozenset(
        {"install", "install-hooks", "uninstall", "gc", "clean", "autoupdate",
         "migrate-config", "sample-config", "init-templatedir"}
    ),
    "prek": frozenset({"install", "install-hooks", "uninstall", "gc", "clean", "autoupdate"}),
    "ruff": frozenset({"clean", "version", "rule", "config", "linter", "server"}),
    "gridgate": frozenset({"init", "history"}),
    "hatch": frozenset({"env", "version", "shell", "publish", "clean", "config", "status",
                        "python", "new", "dep", "project", "self"}),
    "twine": frozenset({"upload", "register"}),
    "mkdocs": frozenset({"serve", "gh-deploy", "new", "get-deps"}),
}  # fmt: skip
# Options and subcommands with which a runner only lists what it would run: `nox -l | jq`
# in a matrix-building step runs no session, `pytest --fixtures | tee` prints the fixtures
# and runs no test. `--collect-only` is not among them: it fails on a module that does not
# import, so its status is a verdict.
_PYTEST_INFORMATIONAL = frozenset({"--fixtures", "--funcargs", "--fixtures-per-test", "--markers"})
_LISTING = {
    "nox": frozenset({"-l", "--list", "--list-sessions"}),
    "tox": frozenset({"-l", "--listenvs", "-a", "--listenvs-all"}),
    "pytest": _PYTEST_INFORMATIONAL,
    "py.test": _PYTEST_INFORMATIONAL,
}
_LISTING_SUBCOMMANDS = {"tox": frozenset({"list", "l"})}
_MAKE_GATE_TARGET = re.compile(r"test|check|lint|cov|type|mypy|doc|html|build|all|ci|verify")
_MAKE_TEST_TARGET = re.compile(r"test|check|cov|ci|all")
# A script named for a verdict: ./ci/run_tests.sh, python scripts/check_links.py.
_GATE_SCRIPT = re.compile(r"test|lint|check|typecheck|mypy|coverage")
_SCRIPT_SUFFIXES = (".sh", ".bash", ".py", ".ps1")

_RUNNERS = {"uv": "run", "poetry": "run", "pipenv": "run", "pdm": "run", "hatch": "run"}
_PASSTHROUGH = frozenset(
    {"env", "time", "nice", "xvfb-run", "sudo", "command", "exec", "stdbuf", "unbuffer"}
)
# Options of wrappers that take a value in the next word.
_TIMEOUT_VALUED = frozenset({"-s", "-k", "--signal", "--kill-after"})
_XARGS_VALUED = frozenset({"-n", "-I", "-P", "-d", "-L", "-s", "-E", "-a", "-i"})
_PYTHON_VALUED = frozenset("WXQ")  # -W arg, -X opt, -Q (old): the value may follow
_SHELLS = frozenset({"bash", "sh", "zsh", "dash"})
# Options of `uv run`, `uvx`, `pipx run`, `poetry run`... that take a value.
_RUNNER_VALUED = frozenset(
    {
        "--with", "-w", "--from", "--python", "-p", "--group", "--only-group", "--extra",
        "--package", "--env-file", "--index", "--extra-index-url", "--with-requirements",
        "--with-editable", "--directory", "--project", "--spec", "-e", "--env",
    }
)  # fmt: skip


def _skip_options(args: list[str], valued: frozenset[str]) -> list[str]:
    while args and args[0].startswith("-"):
        args = args[2:] if args[0] in valued else args[1:]
    return args


def _python_target(args: list[str]) -> tuple[str, list[str]] | None:
    """For ``python [options] -m mod ...`` or ``python script.py``: (mod or script, rest).

    Options may be combined (``-Im``, ``-um``, ``-Wignore``); ``-c`` runs inline code,
    whose program is Python itself (None).
    """
    index = 1
    while index < len(args):
        arg = args[index]
        if arg == "--" or not arg.startswith("-") or arg == "-":
            break
        if arg.startswith("--"):
            index += 1
            continue
        for position, flag in enumerate(arg[1:], start=1):
            rest = arg[position + 1 :]
            if flag == "m":
                module = rest or (args[index + 1] if index + 1 < len(args) else "")
                tail = args[index + 1 :] if rest else args[index + 2 :]
                return module, [module, *tail]
            if flag == "c":
                return None
            if flag in _PYTHON_VALUED:
                index += 0 if rest else 1  # the value is the next word
                break
        index += 1
    if index < len(args) and args[index] != "--":
        return args[index].rsplit("/", 1)[-1], args[index:]
    return None


def resolve(argv: list[str]) -> list[str]:
    """``argv`` with wrappers removed: ``uv run python -Im pytest -q`` -> ``pytest -q``.

    The first word of the result is the program's base name; empty when nothing runs.
    """
    args = list(argv)
    while args:
        head = args[0].rsplit("/", 1)[-1]
        if head in _PASSTHROUGH or ("=" in head and not head.startswith("-")):
            args = args[1:]
            while args and (args[0].startswith("-") or "=" in args[0]):
                args = args[1:]
        elif head == "timeout":
            args = _skip_options(args[1:], _TIMEOUT_VALUED)[1:]  # then the duration
        elif head == "xargs":
            args = _skip_options(args[1:], _XARGS_VALUED)
        elif head in _RUNNERS and len(args) > 1 and args[1] == _RUNNERS[head]:
            args = _skip_options(args[2:], _RUNNER_VALUED)
        elif head == "uvx" or (head == "pipx" and len(args) > 1 and args[1] == "run"):
            args = _skip_options(args[1 if head == "uvx" else 2 :], _RUNNER_VALUED)
        elif head in _SHELLS and len(args) > 1 and not args[1].startswith("-"):
            args = args[1:]  # `bash ci/test.sh`: the script
        elif head.startswith("python") or head in ("py", "pypy", "pypy3"):
            target = _python_target(args)
            if target is None:
                return [head, *args[1:]]
            name, rest = target
            return [name.rsplit("/", 1)[-1], *rest[1:]]
        else:
            return [head, *args[1:]]
    return []


def command_name(argv: list[str]) -> str:
    """The program a command really runs: ``uv run python -m pytest -q`` -> ``pytest``."""
    resolved = resolve(argv)
    return resolved[0] if resolved else ""


def _subcommand(args: list[str]) -> str:
    return next((a for a in args if not a.startswith("-")), "")


def gate_name(argv: list[str]) -> str | None:
    """The gate a command runs (``pytest``, ``mypy``, ``make test``...), or None."""
    resolved = resolve(argv)
    if not resolved:
        return None
    name, args = resolved[0], resolved[1:]
    if any(a in ("--version", "-V", "--help", "-h") for a in args[:1]):
        return None
    if name in GATE_COMMANDS:
        sub = _subcommand(args)
        if sub in _NOT_GATES.get(name, ()):
            return None
        if sub in _LISTING_SUBCOMMANDS.get(name, ()):
            return None
        if name in _LISTING and not _LISTING[name].isdisjoint(
            args[: args.index("--")] if "--" in args else args
        ):
            return None
        # A coverage report is a verdict only with a threshold; one set in the project's
        # configuration is not visible here (pass --fail-under in CI to make it so).
        threshold = any(a.startswith("--fail-under") for a in args)
        if name == "coverage" and sub != "run" and not threshold:
            return None
        if name == "make":
            targets = [
                a for a in _skip_options(args, frozenset({"-C", "-f", "-j"})) if "=" not in a
            ]
            if targets and not any(_MAKE_GATE_TARGET.search(t.lower()) for t in targets):
                return None
        if name == "twine" and sub != "check":
            return None
        return name
    if name.endswith(_SCRIPT_SUFFIXES) and _GATE_SCRIPT.search(name.lower()):
        return name
    return None


def runs_tests(argv: list[str]) -> bool:
    """True when the command starts pytest (directly, or through a test runner)."""
    name = gate_name(argv)
    if name is None:
        return False
    resolved = resolve(argv)
    if name == "hatch":
        return _subcommand(resolved[1:]) == "test"
    if name == "make":
        targets = [a for a in resolved[1:] if not a.startswith("-") and "=" not in a]
        return not targets or any(_MAKE_TEST_TARGET.search(t.lower()) for t in targets)
    if name in TEST_RUNNERS or name.endswith(_SCRIPT_SUFFIXES):
        return True
    return "pytest" in argv or any(a.endswith("/pytest") for a in argv)
