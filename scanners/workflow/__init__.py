"""GitHub workflow rules GW001-GW006 (work in progress).

Interface used by the engine::

    check_workflow(path: str, source: bytes, settings: ScanSettings,
                   selected: Callable[[str], bool]) -> list[Finding]

raises :class:`scanners.finding.ParseFailure` for invalid YAML (reported as GG000).
Line numbers are the YAML's own.
"""

from __future__ import annotations
