"""``--fix`` and ``--diff``: the fixes prepared by the workers (see
:func:`scanners.engine.scan_file`), written to the files or shown as a unified diff.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Sequence
from pathlib import Path

from scanners.arguments import PROG
from scanners.discovery import SourceFile
from scanners.engine import apply_hunks
from scanners.output import ScanReport


def apply_fixes(report: ScanReport, files: Sequence[SourceFile], *, write: bool) -> str:
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


def _unified_diff(path: str, before: bytes, after: bytes) -> str:
    old = before.decode("utf-8", "replace").splitlines(keepends=True)
    new = after.decode("utf-8", "replace").splitlines(keepends=True)
    return "".join(difflib.unified_diff(old, new, f"a/{path}", f"b/{path}"))
