"""Python source rules GG001-GG010 (work in progress).

Interface used by the engine (``scanners/engine.py``)::

    check_python(path: str, source: bytes, settings: ScanSettings,
                 selected: Callable[[str], bool]) -> list[Finding]

raises :class:`scanners.finding.ParseFailure` when the file cannot be decoded or parsed.
``selected(code)`` says whether a rule code is enabled (select/ignore/per-file ignores are the
engine's business). Suppression comments are applied by the engine, not by rules.

    fix_python(path: str, source: bytes, settings: ScanSettings) -> bytes | None

returns the fixed source (``--fix``), or None when nothing is fixable.
"""

from __future__ import annotations
