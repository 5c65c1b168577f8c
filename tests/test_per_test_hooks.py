"""gridgate's cost per test: one hook implementation per phase for all gates, and none for a
gate that is off (pytest_gridgate/per_test.py).

pluggy charges every implementation on every call, about as much as a gate's own work on a
passing test, so how many gridgate registers is the contract here: read from the inner
run's own plugin manager, in a real run.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Gated

# The inner run's conftest writes gridgate's implementations of the per-test hooks, by hook:
# [plugin name, "wrapper" or "plain"] in pluggy's order.
LIST_HOOKS = """
import json

import pytest

PER_TEST = (
    "pytest_runtest_setup",
    "pytest_runtest_teardown",
    "pytest_runtest_makereport",
    "pytest_runtest_logreport",
)


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    hook = session.config.pluginmanager.hook
    found = {
        name: [
            [impl.plugin_name, "wrapper" if impl.wrapper or impl.hookwrapper else "plain"]
            for impl in getattr(hook, name).get_hookimpls()
            if impl.plugin_name.startswith("gridgate")
        ]
        for name in PER_TEST
    }
    with open("hooks.json", "w") as file:
        json.dump(found, file)
"""

TESTS = """
def test_one():
    pass
"""


def _hooks(gated: Gated, pyproject: str) -> dict[str, list[list[str]]]:
    gated.project(pyproject, conftest=LIST_HOOKS, test_one=TESTS)
    run = gated.run()
    run.result.assert_outcomes(passed=1)
    hooks: dict[str, list[list[str]]] = json.loads((gated.pytester.path / "hooks.json").read_text())
    return hooks


def test_every_gate_on_costs_one_implementation_per_phase(gated: Gated) -> None:
    hooks = _hooks(gated, '[tool.gridgate.leaks]\naction = "fail"\n')
    # Leaks and memory share one setup hook and one teardown wrapper (the leak check must
    # see the whole teardown); failures and shard one report hook.
    assert hooks["pytest_runtest_setup"] == [["gridgate-per-test-setup", "plain"]]
    assert hooks["pytest_runtest_teardown"] == [["gridgate-per-test-around-teardown", "wrapper"]]
    assert hooks["pytest_runtest_logreport"] == [["gridgate-per-test-reports", "plain"]]
    # The failures gate notes a failed phase's exception where it is raised.
    assert hooks["pytest_runtest_makereport"] == [["gridgate-failures", "plain"]]


def test_gates_that_are_off_cost_no_hook_per_test(gated: Gated) -> None:
    hooks = _hooks(
        gated, '[tool.gridgate.leaks]\naction = "off"\n[tool.gridgate.memory]\naction = "off"\n'
    )
    assert hooks["pytest_runtest_setup"] == []
    assert hooks["pytest_runtest_teardown"] == []


def test_the_memory_gate_alone_ends_in_a_plain_teardown_hook(gated: Gated) -> None:
    # No leak check to see the whole teardown: a plain hook, half a wrapper's cost.
    hooks = _hooks(gated, '[tool.gridgate.leaks]\naction = "off"\n')
    assert hooks["pytest_runtest_setup"] == [["gridgate-per-test-setup", "plain"]]
    assert hooks["pytest_runtest_teardown"] == [["gridgate-per-test-last-teardown", "plain"]]


FAILING = """
def test_passes():
    pass


def test_fails():
    assert 1 == 2
"""


@pytest.mark.parametrize("blocked", ["failures", "shard"])
def test_a_blocked_gate_leaves_the_report_hook_to_the_other(gated: Gated, blocked: str) -> None:
    gated.project("", conftest=LIST_HOOKS, test_two=FAILING)
    run = gated.run("-p", f"no:pytest_gridgate.{blocked}")
    run.result.assert_outcomes(passed=1, failed=1)
    hooks = json.loads((gated.pytester.path / "hooks.json").read_text())
    assert hooks["pytest_runtest_logreport"] == [["gridgate-per-test-reports", "plain"]]
    # What the other gate takes from every test report is still there.
    if blocked == "failures":
        assert run.report["shard"]["ran"] == ["test_two.py::test_passes", "test_two.py::test_fails"]
    else:
        [failure] = run.report["failures"]
        assert (failure["nodeid"], failure["category"]) == ("test_two.py::test_fails", "assertion")
