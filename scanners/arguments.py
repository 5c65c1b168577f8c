"""The options of ``gridgate scan`` (also ``gridgate-scan`` and ``python -m scanners``):
the parser, the option types, and the pairing of ``--format`` with ``--output``.

Exit codes: 0 no findings, 1 findings, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

from scanners.output import FORMATS

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


def parser() -> argparse.ArgumentParser:
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


def report_targets(args: argparse.Namespace) -> list[tuple[str, str | None]]:
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
