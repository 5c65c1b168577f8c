"""Per-tier CPU time of the Python rules (``check_python``) over the standard library.

Single process, no engine, no cache: ``python benchmarks/rule_tiers.py [CODES]`` (default:
every rule, with GG000's syntax check). It repeats the steps of
``scanners.rules.checker._check`` with a clock around each tier. End-to-end numbers (workers,
cache, outputs) come from ``benchmarks/scan_speed.py``.
"""

from __future__ import annotations

import gc
import sys
import sysconfig
import time
from collections import defaultdict
from pathlib import Path

from pytest_gridgate.settings import ScanSettings
from scanners.finding import ParseFailure
from scanners.rules import traversal
from scanners.rules.ast_facts import AstFacts
from scanners.rules.checker import parse_module
from scanners.rules.names import module_name_for
from scanners.rules.registry import registry
from scanners.rules.skeleton import skeleton
from scanners.rules.syntax import check_syntax as syntax_check
from scanners.rules.tiers import ast_candidates, past_tokens


def stdlib_sources() -> list[tuple[str, bytes]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    return [
        (str(path), path.read_bytes())
        for path in sorted(root.rglob("*.py"))
        if "site-packages" not in path.parts
    ]


def main(argv: list[str]) -> int:
    rules_by_code = registry()[0]
    codes = argv[0].split(",") if argv else list(rules_by_code)
    check_syntax = not argv or "GG000" in codes
    codes = [code for code in codes if code in rules_by_code]
    data = stdlib_sources()
    settings = ScanSettings()
    tiers: dict[str, float] = defaultdict(float)
    parsed_files = source_bytes = parsed_bytes = findings = 0
    gc.disable()  # as check_python does
    started = time.process_time()
    for path, source in data:
        rules = [rules_by_code[code](settings, path) for code in codes]
        t0 = time.process_time()
        left = past_tokens(source, rules)
        t1 = time.process_time()
        tiers["1  words in the bytes"] += t1 - t0
        try:
            if not left:
                if check_syntax:
                    syntax_check(path, source)
                tiers["2  syntax check, files no rule looks into (GG000)"] += (
                    time.process_time() - t1
                )
                continue
            facts = AstFacts(path, source)
            if check_syntax:
                facts.tree  # noqa: B018
            t2 = time.process_time()
            tiers["2a ast.parse, files passing 1"] += t2 - t1
            left, needed = ast_candidates(left, facts)
            t3 = time.process_time()
            tiers["2b ast candidates (files passing 1)"] += t3 - t2
            if not left:
                continue
            text, positions = source, facts
            if needed is not None and (smaller := skeleton(facts, needed)) is not None:
                text, positions = smaller, AstFacts(path, smaller)
            t4 = time.process_time()
            tiers["3a skeleton"] += t4 - t3
            module = parse_module(text)
        except ParseFailure:
            continue
        t5 = time.process_time()
        tiers["3b libcst parse"] += t5 - t4
        module_name, package = module_name_for(path)
        _, found = traversal.run(module, path, module_name, package, left, positions)
        tiers["3c libcst rules and positions"] += time.process_time() - t5
        parsed_files += 1
        source_bytes += len(source)
        parsed_bytes += len(text)
        findings += len(found)
    total = time.process_time() - started
    print(
        f"rules: {','.join(codes) if argv else 'all'}; {len(data)} files, "
        f"{sum(len(s) for _, s in data) / 1e6:.1f} MB"
    )
    for tier, seconds in sorted(tiers.items()):
        print(f"  {tier:<40} {seconds:6.2f} s")
    print(f"  {'total CPU (single process)':<40} {total:6.2f} s")
    print(
        f"  libcst: {parsed_files} files, {source_bytes / 1e6:.1f} MB of source, "
        f"{parsed_bytes / 1e6:.1f} MB parsed after skeletons; {findings} findings"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
