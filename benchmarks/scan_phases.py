"""Where a cold all-rules scan's CPU goes, phase by phase, in one process.

``python benchmarks/scan_phases.py [DIR]`` (default: the standard library without
``site-packages``) reads and checks every ``.py`` file through the engine's own
``scan_file``, as a worker does, with a clock around each phase. Each phase's time is
exclusive (a phase called inside another is not counted twice); what no phase claims is
the checker's own work, which includes freeing each file's trees. Interpreter start-up,
the worker pool and the report are not in it: ``benchmarks/scan_speed.py`` measures the
whole command.
"""

from __future__ import annotations

import ast
import functools
import symtable
import sys
import sysconfig
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import libcst  # noqa: F401 - imported before the clock starts, as a worker has it

from pytest_gridgate.settings import ScanSettings
from scanners import engine, suppressions
from scanners.discovery import SourceFile
from scanners.rules import checker, traversal
from scanners.rules.registry import registry
from scanners.selection import Selector

OTHER = "checker's own work (rules, findings, freeing trees)"


class PhaseClock:
    """Exclusive CPU time per phase: entering a phase pauses the one it was called from."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.stack = [OTHER]
        self.mark = time.process_time()

    def _charge(self) -> None:
        now = time.process_time()
        self.totals[self.stack[-1]] += now - self.mark
        self.mark = now

    def wrap(self, phase: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._charge()
            self.stack.append(phase)
            try:
                return function(*args, **kwargs)
            finally:
                self._charge()
                self.stack.pop()

        return timed

    def clock(self, owner: Any, name: str, phase: str) -> None:
        setattr(owner, name, self.wrap(phase, getattr(owner, name)))


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path(sysconfig.get_paths()["stdlib"])
    paths = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts)
    files = [SourceFile(str(p), str(p), str(p.relative_to(root)), "python") for p in paths]
    settings = ScanSettings()
    selector = Selector(settings.select, settings.ignore, settings.per_file_ignores)
    registry()
    clock = PhaseClock()
    clock.clock(engine, "_read", "reading the file")
    clock.clock(checker, "past_tokens", "tier 1: words in the bytes")
    clock.clock(symtable, "symtable", "syntax check (symtable), no rule left")
    clock.clock(ast, "parse", "ast.parse (files past tier 1, skeletons)")
    clock.clock(checker, "ast_candidates", "tier 2: ast facts and candidate lines")
    clock.clock(checker, "skeleton", "skeleton")
    clock.clock(checker, "parse_module", "libcst parse")
    clock.clock(traversal, "ScopeTable", "scope table")
    clock.clock(traversal.Dispatcher, "walk", "one walk, rule visits")
    clock.clock(traversal, "find_spans", "positions and baseline source")
    clock.clock(traversal, "normalised_source", "positions and baseline source")
    clock.clock(suppressions, "apply", "suppressions (tokenize)")
    started = clock.mark = time.process_time()
    findings = 0
    for file in files:
        read = engine._read(file.path)
        if isinstance(read, str):
            continue
        selected = selector.for_path(file.relative)
        findings += len(engine.scan_file(file, read[0], settings, selected, False).findings)
    clock._charge()
    total = time.process_time() - started
    print(f"{root}: {len(files)} files, {findings} findings")
    for phase, seconds in sorted(clock.totals.items(), key=lambda item: -item[1]):
        print(f"  {phase:<52} {seconds:6.2f} s  {100 * seconds / total:5.1f} %")
    print(f"  {'total CPU (one process)':<52} {total:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
