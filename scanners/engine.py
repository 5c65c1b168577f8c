"""The scan itself: read, hash, look up the cache, check the misses in isolated workers.

The rules live elsewhere (``scanners.rules.check_python``, ``scanners.workflow.check_workflow``)
and are imported only when some file misses the cache (just before the workers are forked,
so that they share them): a run where every file hits never imports libcst or starts a
process. Each file's result is final for that file: suppressions
are applied and the autofix is prepared in the worker, so that the cache can hold it.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import os
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pytest_gridgate.settings import ScanSettings
from scanners import suppressions
from scanners.cache import Cache, Signature
from scanners.discovery import SourceFile
from scanners.finding import Finding, ParseFailure
from scanners.pool import run_isolated
from scanners.result import FileResult, Hunk
from scanners.selection import Selector

PARSE_ERROR, PARSE_ERROR_NAME = "GG000", "parse-error"
# A workflow that cannot be read or parsed as YAML has its own code, so that selecting or
# ignoring the workflow rules (``GW``) covers it and the Python code is not borrowed.
WORKFLOW_PARSE_ERROR = "GW000"


def parse_error_code(kind: str) -> str:
    """The parse-error code of a file of ``kind`` (``"python"`` or ``"workflow"``)."""
    return WORKFLOW_PARSE_ERROR if kind == "workflow" else PARSE_ERROR


@dataclass
class ScanResult:
    files: list[SourceFile]
    results: dict[str, FileResult]  # by display path
    sources: dict[str, bytes]  # by display path, readable files only
    cache_hits: int = 0
    warnings: list[str] = field(default_factory=list)  # e.g. rule plugins that failed to load


def parse_error(
    path: str, message: str, line: int = 1, column: int = 1, code: str = PARSE_ERROR
) -> Finding:
    return Finding(
        path=path,
        line=line,
        column=column,
        rule=code,
        name=PARSE_ERROR_NAME,
        message=message,
        source=message,
    )


def digest(source: bytes) -> str:
    """The cache key of a file's bytes. SHA-1 is not for security here, and with the CPU's
    SHA instructions it hashes twice as fast as BLAKE2 (hashing is a fifth of a warm run)."""
    return hashlib.sha1(source, usedforsecurity=False).hexdigest()


# --------------------------------------------------------------------------- one file


def _check(
    file: SourceFile, source: bytes, settings: ScanSettings, selected: Callable[[str], bool]
) -> list[Finding]:
    if file.kind == "workflow":
        from scanners.workflow import check_workflow

        return check_workflow(file.display, source, settings, selected)
    from scanners.rules import check_python

    return check_python(file.display, source, settings, selected)


def _fix_hunks(
    file: SourceFile, source: bytes, settings: ScanSettings, selected: Callable[[str], bool]
) -> list[Hunk]:
    from scanners.rules import fix_python

    fixed = fix_python(file.display, source, settings, selected)
    if fixed is None or fixed == source:
        return []
    before = source.splitlines(keepends=True)
    after = fixed.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    return [
        (i1, i2, [line.decode("latin-1") for line in after[j1:j2]])
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    ]


def scan_file(
    file: SourceFile,
    source: bytes,
    settings: ScanSettings,
    selected: Callable[[str], bool],
    want_fix: bool = True,
) -> FileResult:
    """Check one file; never raises. A file that cannot be parsed is one GG000 finding.

    With ``want_fix`` (``--fix``, ``--diff``, SARIF) the autofix is prepared too.
    """
    code = parse_error_code(file.kind)
    try:
        found = _check(file, source, settings, selected)
    except ParseFailure as failure:
        if not selected(code):
            return FileResult()
        finding = parse_error(file.display, failure.message, failure.line, failure.column, code)
        return FileResult([finding])
    except RecursionError:
        return FileResult([parse_error(file.display, "too deeply nested to parse", code=code)])
    except Exception as exc:  # a crashing rule must not lose the other files
        message = f"internal error while checking this file: {type(exc).__name__}: {exc}"
        return FileResult([parse_error(file.display, message[:500], code=code)])
    found = [f for f in found if selected(f.rule)]
    reported, suppressed = suppressions.apply(file.display, source, file.kind, found, selected)
    result = FileResult(sorted(reported), suppressed)
    fixable = [f for f in reported if f.fixable]
    if fixable and not want_fix:
        result.fix = None
        return result
    # fix_python rewrites every fixable finding in the file, so a file where one of them is
    # suppressed is left alone rather than fixing what the user chose to keep.
    if fixable and file.kind == "python" and not any(s.finding.fixable for s in suppressed):
        try:
            result.fix = _fix_hunks(file, source, settings, selected)
        except Exception:  # a failed fix is no fix, never a lost scan
            result.fix = []
    return result


def apply_hunks(source: bytes, hunks: Sequence[Hunk]) -> bytes:
    lines = source.splitlines(keepends=True)
    for start, end, replacement in sorted(hunks, reverse=True):
        lines[start:end] = [line.encode("latin-1") for line in replacement]
    return b"".join(lines)


# --------------------------------------------------------------------------- the run


# A file changed this recently may change again within the same timestamp tick, unseen.
_SETTLED_NS = 2_000_000_000


def signature(status: os.stat_result) -> Signature | None:
    """What identifies a file's content without reading it: size, mtime, ctime (which no
    one can set back) and inode; None when it changed too recently to rely on (a write in
    the same clock tick as our read would leave all four as they were)."""
    if status.st_ctime_ns > time.time_ns() - _SETTLED_NS:
        return None
    return (status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino)


def _read(path: str) -> tuple[bytes, Signature | None] | str:
    """The file's bytes and signature (taken before the read), or why it cannot be read."""
    try:
        # Non-blocking open and a type check: a FIFO or a device named `x.py` must not
        # block the scan or feed it forever.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb") as handle:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):
                return "not a regular file"
            return handle.read(), signature(status)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    except ValueError as exc:  # pragma: no cover - e.g. an embedded NUL in the name
        return str(exc)


def scan(
    files: Sequence[SourceFile],
    *,
    settings: ScanSettings,
    selector: Selector,
    jobs: int,
    cache: Cache | None,
    want_fixes: bool = False,
) -> ScanResult:
    results: dict[str, FileResult] = {}
    sources: dict[str, bytes] = {}
    misses: list[tuple[SourceFile, bytes, str]] = []
    signatures: dict[str, Signature | None] = {}
    hits = 0
    packages: dict[str, bool] = {}

    def in_package(directory: str) -> bool:
        """Whether ``directory`` holds ``__init__.py``; asked once per directory."""
        known = packages.get(directory)
        if known is None:
            known = packages[directory] = os.path.isfile(os.path.join(directory, "__init__.py"))
        return known

    for file in files:
        # Results depend on the package around the file too (relative imports; GG004's
        # scripts): adding or removing an __init__.py must not be answered from the cache.
        package = cache is not None and file.kind == "python"
        package = package and in_package(os.path.dirname(file.path))
        if cache is not None and not want_fixes:  # a fix needs the file's bytes
            try:
                status = os.stat(file.path)
            except OSError:
                status = None
            known = signature(status) if status and stat.S_ISREG(status.st_mode) else None
            unchanged = cache.get_unchanged(file.display, known, package) if known else None
            if unchanged is not None:
                results[file.display] = unchanged
                hits += 1
                continue
        read = _read(file.path)
        if isinstance(read, str):
            code = parse_error_code(file.kind)
            if selector.for_path(file.relative)(code):
                results[file.display] = FileResult(
                    [parse_error(file.display, f"cannot read file: {read}", code=code)]
                )
            else:
                results[file.display] = FileResult()
            continue
        content, signatures[file.display] = read
        sources[file.display] = content
        if cache is None:
            misses.append((file, content, ""))
            continue
        key = digest(content)
        if package:
            key += ":package"
        cached = cache.get(file.display, key)
        # A result without its prepared fix does not do when the fix is wanted.
        if cached is not None and not (want_fixes and cached.fix is None):
            results[file.display] = cached
            hits += 1
            if signatures[file.display] is not None:  # next time without reading it
                cache.put(file.display, key, cached, signatures[file.display])
        else:
            misses.append((file, content, key))

    def work(item: tuple[SourceFile, bytes, str]) -> FileResult:
        file, content, _ = item
        return scan_file(file, content, settings, selector.for_path(file.relative), want_fixes)

    crashes: set[str] = set()

    def crashed(item: tuple[SourceFile, bytes, str], why: str) -> FileResult:
        crashes.add(item[0].display)
        return FileResult([parse_error(item[0].display, why, code=parse_error_code(item[0].kind))])

    # Import the rules once, before the workers fork, so they share them.
    warnings: list[str] = []
    for kind, module in (("python", "scanners.rules"), ("workflow", "scanners.workflow")):
        if any(file.kind == kind for file, _, _ in misses):
            warnings += getattr(importlib.import_module(module), "LOAD_ERRORS", [])
    if warnings:
        cache = None  # so that every run repeats the warnings until the plugin is fixed
    # Largest first, so that no big file starts last and leaves the other workers idle.
    misses.sort(key=lambda miss: len(miss[1]), reverse=True)
    scanned = run_isolated(misses, work, crashed, jobs=jobs, file_timeout=_file_timeout())
    for (file, _, key), result in zip(misses, scanned, strict=True):
        results[file.display] = result
        # A crash may be the machine (out of memory), not the file: try again next time.
        if cache is not None and file.display not in crashes:
            cache.put(file.display, key, result, signatures.get(file.display))
    return ScanResult(list(files), results, sources, hits, warnings)


def _file_timeout() -> float:
    raw = os.environ.get("_GRIDGATE_SCAN_FILE_TIMEOUT", "")
    try:
        return float(raw) if raw else 300.0
    except ValueError:
        return 300.0
