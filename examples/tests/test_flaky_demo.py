"""A flaky test: `gridgate check examples/` names it in the flaky gate.

It fails its first attempt and passes its second, as a test that races a background job
does. flaky.reruns = 1 in examples/pyproject.toml runs it again; pytest counts it as
passed ("1 rerun"), and gridgate reports it flaky with both attempts; flaky.action =
"fail" makes any flaky test fail the gate. The attempts are counted in a file of this
run's temporary directory, so every run starts again at one.
"""

from __future__ import annotations

import pytest


def test_cache_warms_up_in_time(tmp_path_factory: pytest.TempPathFactory) -> None:
    counter = tmp_path_factory.getbasetemp() / "flaky-demo-attempts"
    attempt = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(attempt))
    assert attempt > 1, "the cache was not warm yet"
