"""A test over its memory budget: `gridgate check examples/` names it in the memory gate.

It passes on its own and frees what it built; gridgate sees the peak (memory.limit =
"100MB" in examples/pyproject.toml) and turns its teardown into an error naming peak and
limit. On a CI runner this is the test that one day gets the whole job OOM-killed.
"""

from __future__ import annotations


def test_builds_the_whole_report_in_memory() -> None:
    rows = [f"row {i:>12}".encode() * 4 for i in range(1_000_000)]  # about 120 MB
    assert len(rows) == 1_000_000
