"""Stale ``allow_in`` globs of ``scan.forbidden_calls``: reported as GG003 at the entry
in the configuration file, so that an exemption does not outlive what it excused.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from pytest_gridgate.settings import GridgateConfig, ScanSettings
from scanners.cache import Cache
from scanners.discovery import SourceFile
from scanners.engine import digest
from scanners.finding import Finding
from scanners.selection import Selector


def stale_allow_in(
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
