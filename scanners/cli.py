"""``gridgate scan`` (also ``gridgate-scan`` and ``python -m scanners``).

Exit codes: 0 no findings, 1 findings, 2 usage or configuration error. Whatever happens,
the user sees findings and one-line messages, never a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from pytest_gridgate.config import ConfigError, GridgateConfig, ScanSettings, load_config
from pytest_gridgate.whole_file import write_whole
from scanners import baseline
from scanners.cache import Cache, run_key
from scanners.discovery import PathNotFound, SourceFile, discover
from scanners.engine import apply_hunks, digest, scan
from scanners.finding import Finding
from scanners.output import FORMATS, Report, render
from scanners.selection import Selector

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
        """One line, like every other usage error (argparse would print the usage too)."""
        self.exit(EXIT_USAGE, f"{PROG}: {message} (see --help)\n")


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
    explicit = bool(args.paths)
    # A missing PATH argument is a usage error; a configured path that does not exist (yet)
    # is only a warning, so that one missing directory does not stop the gate.
    missing: list[str] = []
    files = discover(
        args.paths or settings.paths,
        root=root,
        exclude=settings.exclude,
        explicit=explicit,
        missing=None if explicit else missing,
    )
    source = os.path.relpath(config.source) if config.source is not None else "defaults"
    for path in missing:
        print(f"{PROG}: warning: {source}: scan.paths: {path!r} does not exist", file=sys.stderr)
    selector = Selector(settings.select, settings.ignore, settings.per_file_ignores)
    cache = None
    if not args.no_cache:
        cache = Cache(root, run_key(repr(settings), os.path.relpath(cwd, root)))

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
    report = Report(files_scanned=len(files), findings=[], sources=outcome.sources)
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
        text = render(format, report)
        if output is not None:
            _write(output, text)
        elif args.diff:  # stdout holds the diff; the summary goes beside it
            sys.stderr.write(text if format == "text" else "\n".join(report.notes) + "\n")
        else:
            sys.stdout.write(text)
    if report.findings or diff_text:
        return EXIT_FINDINGS
    return EXIT_CLEAN


def _autofix(report: Report, files: Sequence[SourceFile], *, write: bool) -> str:
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


def _apply_baseline(report: Report, path: Path, *, update: bool) -> None:
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
