"""``gridgate scan`` (also ``gridgate-scan`` and ``python -m scanners``): configuration,
selection and discovery, the scan, then fixes, baseline and reports.

Exit codes: 0 no findings, 1 findings, 2 usage or configuration error. Whatever happens,
the user sees findings and one-line messages, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_gridgate.settings import ConfigError, GridgateConfig, ScanSettings, load_config
from pytest_gridgate.whole_file import write_whole
from scanners import baseline
from scanners.arguments import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    EXIT_USAGE,
    PROG,
    UsageError,
    parser,
    report_targets,
)
from scanners.autofix import apply_fixes
from scanners.cache import Cache, run_key
from scanners.discovery import PathNotFound, SourceFile, UnreadableDirectory, discover
from scanners.engine import PARSE_ERROR, WORKFLOW_PARSE_ERROR, parse_error, scan
from scanners.finding import Finding
from scanners.output import ScanReport, Style, render, use_colour
from scanners.selection import Selector, UnknownCode, check_codes
from scanners.stale_allow_in import stale_allow_in
from scanners.suppressions import BARE_IGNORE, UNUSED_IGNORE


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser().parse_args(args_list)
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
    report_targets(args)  # usage errors before any work
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
    want_fixes = args.fix or args.diff or any(f == "sarif" for f, _ in report_targets(args))
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
        repository_root=_repository_root(root) if "sarif" in dict(report_targets(args)) else None,
    )
    for display in sorted(outcome.results):
        result = outcome.results[display]
        report.findings.extend(result.findings)
        report.suppressed.extend(result.suppressed)
        if result.fix:
            report.fixes[display] = result.fix
    if not explicit:
        report.findings.extend(stale_allow_in(config, settings, files, selector, cache))
    if cache is not None:
        if not explicit:
            cache.retain({file.display for file in files})
        cache.save()

    diff_text = apply_fixes(report, files, write=args.fix) if args.fix or args.diff else ""
    report.findings.sort()
    if args.baseline:
        baseline.apply_to_report(report, Path(args.baseline), update=args.update_baseline)

    if args.diff:
        sys.stdout.write(diff_text)
    for format, output in report_targets(args):
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


def _write(path: str, text: str) -> None:
    try:
        write_whole(path, text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
