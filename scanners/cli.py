"""``gridgate scan`` (also ``gridgate-scan`` and ``python -m scanners``).

Exit codes: 0 no findings, 1 findings, 2 usage or configuration error. Whatever happens,
the user sees findings and one-line messages, never a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from pytest_gridgate.settings import ConfigError, GridgateConfig, ScanSettings, load_config
from pytest_gridgate.whole_file import write_whole
from scanners import baseline
from scanners.cache import Cache, run_key
from scanners.discovery import PathNotFound, SourceFile, UnreadableDirectory, discover
from scanners.engine import (
    PARSE_ERROR,
    WORKFLOW_PARSE_ERROR,
    apply_hunks,
    digest,
    parse_error,
    scan,
)
from scanners.finding import Finding
from scanners.output import FORMATS, ScanReport, Style, render, use_colour
from scanners.selection import Selector, UnknownCode, check_codes
from scanners.suppressions import BARE_IGNORE, UNUSED_IGNORE

PROG = "gridgate scan"
EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    pass


def _codes(value: str) -> list[str]:
    return [code.strip().upper() for code in value.split(",") if code.strip()]


def _jobs(value: str) -> int:
    try:
        jobs = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of processes, got {value!r}") from None
    if jobs < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return jobs


class _InOrder(argparse.Action):
    """Records ``--format``/``--output`` in command-line order, to pair them."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        sequence = getattr(namespace, "report_options", None) or []
        namespace.report_options = [*sequence, (self.dest, values)]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """What is wrong in one line, then the usage, on stderr; exit 2 (as ruff does).

        Asked for, with ``--help``, the help goes to stdout with exit 0 (argparse's own)."""
        sys.stderr.write(f"{PROG}: {message} (see --help)\n")
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Scan Python sources and GitHub workflow YAML for gate-breaking patterns.",
        epilog="Exit codes: 0 no findings, 1 findings, 2 usage or configuration error.",
    )
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="files or directories (default: scan.paths)"
    )
    parser.add_argument("--config", metavar="FILE", help="pyproject.toml or gridgate.yaml to use")
    parser.add_argument(
        "--select",
        metavar="CODES",
        type=_codes,
        action="extend",
        help="comma-separated codes or prefixes to check; replaces scan.select",
    )
    parser.add_argument(
        "--ignore",
        metavar="CODES",
        type=_codes,
        action="extend",
        help="comma-separated codes or prefixes to skip; added to scan.ignore",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        action=_InOrder,
        help="report format (default: text); repeat for several reports from one run",
    )
    parser.add_argument(
        "--output",
        metavar="FILE",
        action=_InOrder,
        help="write the report to FILE instead of stdout (with several --format options, "
        "an --output belongs to the --format before it)",
    )
    parser.add_argument("--baseline", metavar="FILE", help="accept the findings listed in FILE")
    parser.add_argument(
        "--update-baseline",
        action="store_true",
        help="rewrite the --baseline FILE to the current findings",
    )
    parser.add_argument("--fix", action="store_true", help="apply the available autofixes")
    parser.add_argument(
        "--diff", action="store_true", help="print the autofixes as a diff, change nothing"
    )
    parser.add_argument(
        "--jobs", metavar="N", type=_jobs, help="worker processes (default: all cores)"
    )
    parser.add_argument("--no-cache", action="store_true", help="ignore and do not write the cache")
    parser.add_argument(
        "--force-exclude",
        action="store_true",
        help="apply scan.exclude also to the PATHS named on the command line (by default a "
        "named file or directory is scanned even when excluded, as in ruff)",
    )
    parser.add_argument(
        "--pre-commit",
        action="store_true",
        help="the PATHS are pre-commit's list of staged files (the hook passes this): "
        "implies --force-exclude, and scanning no file is not an error",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=0,
        help="text and github formats: findings only, no summary; -qq: nothing, the exit code",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="say on stderr which configuration, rules and files the scan used (-vv: every file)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(args_list)
    except SystemExit as exit:  # argparse: --help (0) or a usage error (2), already printed
        return exit.code if isinstance(exit.code, int) else EXIT_USAGE
    try:
        return _run(args)
    except (ConfigError, UsageError, PathNotFound, baseline.BaselineError) as exc:
        message = f"path not found: {exc}" if isinstance(exc, PathNotFound) else str(exc)
        print(f"{PROG}: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `gridgate scan | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FINDINGS
    except Exception as exc:  # never a traceback; say what broke in one line
        print(f"{PROG}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _settings(config: GridgateConfig, args: argparse.Namespace) -> ScanSettings:
    settings = config.scan
    if args.select:
        settings = settings._replace(select=tuple(args.select))
    if args.ignore:
        settings = settings._replace(ignore=(*settings.ignore, *args.ignore))
    return settings


def _default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _known_codes(cache: Cache | None) -> list[str]:
    """Every rule code there is: the engine's, the built-in and plugin rules'.

    Asking the registries imports libcst (most of a second); a warm run takes the list from
    the cache, whose key covers the installed plugins and the scanner's own source.
    """
    noted = cache.get_note("codes", "") if cache is not None else None
    if isinstance(noted, list) and noted:
        return [str(code) for code in noted]
    from scanners.rules import RULES
    from scanners.workflow import RULES as WORKFLOW_RULES

    codes = sorted(
        {
            PARSE_ERROR,
            WORKFLOW_PARSE_ERROR,
            BARE_IGNORE[0],
            UNUSED_IGNORE[0],
            *RULES,
            *WORKFLOW_RULES,
        }
    )
    if cache is not None:
        cache.put_note("codes", "", codes)
    return codes


def _check_selection(
    args: argparse.Namespace, settings: ScanSettings, source: str, known: list[str]
) -> None:
    """Unknown codes and a selection that leaves no rule on are usage errors (exit 2)."""

    def origin(key: str) -> str:
        variable = f"GRIDGATE_SCAN_{key.upper()}"
        return variable if os.environ.get(variable) else f"{source}: scan.{key}"

    try:
        check_codes("--select" if args.select else origin("select"), settings.select, known)
        check_codes("--ignore", args.ignore or (), known)
        configured_ignore = settings.ignore[: len(settings.ignore) - len(args.ignore or ())]
        check_codes(origin("ignore"), configured_ignore, known)
        for pattern, codes in settings.per_file_ignores.items():
            check_codes(f"{source}: scan.per_file_ignores[{pattern!r}]", codes, known)
    except UnknownCode as exc:
        raise UsageError(str(exc)) from None
    selector = Selector(settings.select, settings.ignore)
    if not selector.enabled_codes(known):
        raise UsageError(
            f"no rule selected: select {list(settings.select)} with ignore "
            f"{list(settings.ignore)} leaves nothing to check"
        )


def _run(args: argparse.Namespace) -> int:
    _reports(args)  # usage errors before any work
    if args.update_baseline and not args.baseline:
        raise UsageError("--update-baseline needs --baseline FILE")
    if args.fix and args.diff:
        raise UsageError("--fix and --diff exclude each other (--diff previews --fix)")
    cwd = Path.cwd()
    config = load_config(file=Path(args.config)) if args.config else load_config(cwd)
    root = config.source.resolve().parent if config.source is not None else cwd.resolve()
    settings = _settings(config, args)
    source = os.path.relpath(config.source) if config.source is not None else "defaults"
    cache = None
    if not args.no_cache:
        cache = Cache(root, run_key(repr(settings), os.path.relpath(cwd, root)))
    known = _known_codes(cache)
    _check_selection(args, settings, source, known)
    selector = Selector(settings.select, settings.ignore, settings.per_file_ignores)
    explicit = bool(args.paths)
    # A missing PATH argument is a usage error; a configured path that does not exist (yet)
    # is only a warning, so that one missing directory does not stop the gate.
    missing: list[str] = []
    unreadable: list[UnreadableDirectory] = []
    paths = args.paths or settings.paths
    files = discover(
        paths,
        root=root,
        exclude=settings.exclude,
        explicit=explicit,
        missing=None if explicit else missing,
        force_exclude=args.force_exclude or args.pre_commit,
        unreadable=unreadable,
    )
    for path in missing:
        print(f"{PROG}: warning: {source}: scan.paths: {path!r} does not exist", file=sys.stderr)
    if not files and not unreadable and not args.pre_commit:
        # The gate never passes on nothing: a typo'd path or an exclude that drops every
        # file must not read "All checks passed".
        where = "the given PATHS" if explicit else f"{source}: scan.paths"
        if not explicit and config.source is None:
            where = "scan.paths (default)"
        raise UsageError(
            f"no file to scan in {where} ({', '.join(map(repr, paths))}): no Python file or "
            "workflow YAML there, or scan.exclude drops them all"
        )
    if args.verbose:
        _describe_run(args, config, settings, known, selector, files)

    # Preparing a fix costs a second parse of the file: only when it will be used.
    want_fixes = args.fix or args.diff or any(f == "sarif" for f, _ in _reports(args))
    outcome = scan(
        files,
        settings=settings,
        selector=selector,
        jobs=args.jobs or _default_jobs(),
        cache=cache,
        want_fixes=want_fixes,
    )
    for warning in outcome.warnings:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    report = ScanReport(
        files_scanned=len(files),
        findings=_unreadable_findings(unreadable, selector),
        sources=outcome.sources,
        # SARIF only: paths relative to the repository, which asks git once.
        repository_root=_repository_root(root) if "sarif" in dict(_reports(args)) else None,
    )
    for display in sorted(outcome.results):
        result = outcome.results[display]
        report.findings.extend(result.findings)
        report.suppressed.extend(result.suppressed)
        if result.fix:
            report.fixes[display] = result.fix
    if not explicit:
        report.findings.extend(_stale_allow_in(config, settings, files, selector, cache))
    if cache is not None:
        if not explicit:
            cache.retain({file.display for file in files})
        cache.save()

    diff_text = _autofix(report, files, write=args.fix) if args.fix or args.diff else ""
    report.findings.sort()
    if args.baseline:
        _apply_baseline(report, Path(args.baseline), update=args.update_baseline)

    if args.diff:
        sys.stdout.write(diff_text)
    for format, output in _reports(args):
        if output is not None:
            _write(output, render(format, report, Style(quiet=args.quiet)))
        elif args.diff:  # stdout holds the diff; the summary goes beside it
            style = Style(quiet=args.quiet, colour=use_colour(sys.stderr))
            text = render(format, report, style)
            sys.stderr.write(text if format == "text" else "\n".join(report.notes) + "\n")
        else:
            sys.stdout.write(
                render(format, report, Style(quiet=args.quiet, colour=use_colour(sys.stdout)))
            )
    if args.verbose:
        print(
            f"{PROG}: {len(files)} file(s), {outcome.cache_hits} from the cache, "
            f"{len(files) - outcome.cache_hits} checked",
            file=sys.stderr,
        )
    if report.findings or diff_text:
        return EXIT_FINDINGS
    return EXIT_CLEAN


def _describe_run(
    args: argparse.Namespace,
    config: GridgateConfig,
    settings: ScanSettings,
    known: list[str],
    selector: Selector,
    files: Sequence[SourceFile],
) -> None:
    """``-v``: what the scan is about to do, on stderr (stdout holds the report)."""
    source = os.path.relpath(config.source) if config.source is not None else "none (defaults)"
    lines = [
        f"configuration: {source}",
        f"rules: {' '.join(selector.enabled_codes(known))}",
        f"paths: {' '.join(args.paths or settings.paths)}"
        + (f" (exclude: {', '.join(settings.exclude)})" if settings.exclude else ""),
    ]
    if args.verbose > 1:
        lines += [f"file: {file.display}" for file in files]
    for line in lines:
        print(f"{PROG}: {line}", file=sys.stderr)


def _unreadable_findings(
    unreadable: Sequence[UnreadableDirectory], selector: Selector
) -> list[Finding]:
    """A directory that cannot be listed is reported like a file that cannot be read: what
    is in it was not checked, so the run must not pass."""
    if not selector.enabled(PARSE_ERROR):
        return []
    return [
        parse_error(directory.display, f"cannot read directory: {directory.reason}")
        for directory in sorted(set(unreadable))
    ]


def _repository_root(root: Path) -> str:
    """The git work tree holding the project root, else the project root (SARIF paths)."""
    try:
        completed = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return str(root)
    top = completed.stdout.strip()
    return top if completed.returncode == 0 and top else str(root)


def _autofix(report: ScanReport, files: Sequence[SourceFile], *, write: bool) -> str:
    """Apply the prepared fixes (``--fix``), or return them as a diff (``--diff``).

    Either way the report then shows what would remain. Files with parse errors never have
    a prepared fix, so they are never touched.
    """
    changed: dict[str, bytes] = {}
    for path, hunks in sorted(report.fixes.items()):
        if path in report.sources:
            changed[path] = apply_hunks(report.sources[path], hunks)
    if write:
        by_display = {file.display: file for file in files}
        for path, new in list(changed.items()):
            try:
                Path(by_display[path].path).write_bytes(new)
            except OSError as exc:
                print(f"{PROG}: warning: cannot fix {path}: {exc.strerror}", file=sys.stderr)
                del changed[path]
    fixed = {f for f in report.findings if f.fixable and f.path in changed}
    report.findings[:] = [f for f in report.findings if f not in fixed]
    report.fixes = {}
    if write:
        report.fixed, report.fixed_files = len(fixed), len(changed)
        return ""
    report.notes.append(
        f"--diff: {len(fixed)} finding(s) in {len(changed)} file(s) would be fixed."
    )
    return "".join(_unified_diff(path, report.sources[path], new) for path, new in changed.items())


def _apply_baseline(report: ScanReport, path: Path, *, update: bool) -> None:
    if update:
        previous = baseline.load(path)
        baseline.write(path, report.findings)
        now = baseline.load(path)
        added, removed = sum((now - previous).values()), sum((previous - now).values())
        report.notes.append(
            f"Baseline {path}: {sum(now.values())} finding(s) ({added} added, {removed} removed)."
        )
        report.baselined = list(report.findings)
        report.findings.clear()
        return
    filtered = baseline.apply(baseline.load(path), report.findings)
    report.findings[:] = filtered.new
    report.baselined = filtered.known
    report.baseline_fixed = filtered.fixed


def _reports(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    """(format, file or None for stdout) pairs from the ``--format``/``--output`` options."""
    sequence: list[tuple[str, str]] = getattr(args, "report_options", None) or []
    formats = [value for kind, value in sequence if kind == "format"]
    outputs = [value for kind, value in sequence if kind == "output"]
    if len(formats) <= 1 and len(outputs) <= 1:  # the common case, in either order
        return [(formats[0] if formats else "text", outputs[0] if outputs else None)]
    pairs: list[tuple[str, str | None]] = []
    for kind, value in sequence:
        if kind == "format":
            pairs.append((value, None))
        elif not pairs or pairs[-1][1] is not None:
            raise UsageError(f"--output {value}: put it after the --format it is for")
        else:
            pairs[-1] = (pairs[-1][0], value)
    return pairs


def _write(path: str, text: str) -> None:
    try:
        write_whole(path, text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None


def _unified_diff(path: str, before: bytes, after: bytes) -> str:
    old = before.decode("utf-8", "replace").splitlines(keepends=True)
    new = after.decode("utf-8", "replace").splitlines(keepends=True)
    return "".join(difflib.unified_diff(old, new, f"a/{path}", f"b/{path}"))


def _stale_allow_in(
    config: GridgateConfig,
    settings: ScanSettings,
    files: Sequence[SourceFile],
    selector: Selector,
    cache: Cache | None,
) -> list[Finding]:
    """``allow_in`` globs that match no scanned Python file: what they excused has moved.

    Judged only on a whole-project scan (no PATHS), where "no file" means something, and
    reported as GG003 at the entry in the configuration file. Matching is the rules' own
    (``scanners.rules.allow_in_matches``), so a glob is stale exactly when GG003 could never
    have used it.
    """
    if config.source is None or not selector.enabled("GG003"):
        return []
    if not any(entry.allow_in for entry in settings.forbidden_calls):
        return []
    python = [file.display for file in files if file.kind == "python"]
    # Which globs matched depends only on the paths: cached, so that a warm run does not
    # import the rules (and libcst) for this.
    paths_digest = digest("\n".join(python).encode())
    noted = cache.get_note("allow_in", paths_digest) if cache is not None else None
    if noted is None:
        from scanners.rules import allow_in_matches

        matched: set[tuple[int, str]] = set()
        for path in python:
            matched |= allow_in_matches(path, settings)
        if cache is not None:
            cache.put_note("allow_in", paths_digest, sorted(matched))
    else:
        matched = {(int(index), str(glob)) for index, glob in noted}
    used = matched
    try:
        lines = config.source.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []
    display = os.path.relpath(config.source, Path.cwd()).replace(os.sep, "/")
    stale = []
    for index, entry in enumerate(settings.forbidden_calls):
        for pattern in entry.allow_in:
            if (index, pattern) in used:
                continue
            line, column = next(
                (
                    (number, text.find(pattern) + 1)
                    for number, text in enumerate(lines, start=1)
                    if f'"{pattern}"' in text or f"'{pattern}'" in text
                ),
                (1, 1),
            )
            stale.append(
                Finding(
                    path=display,
                    line=line,
                    column=column,
                    rule="GG003",
                    name="forbidden-call",
                    message=f"scan.forbidden_calls[{index}].allow_in: {pattern!r} (for "
                    f"{entry.call!r}) matches no scanned file; remove or correct it",
                    source=f"allow_in {pattern} for {entry.call}",
                )
            )
    return stale
