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
    worker = getattr(session.config, "workerinput", {}).get("workerid")
    with open(f"hooks-{worker}.json" if worker else "hooks.json", "w") as file:
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
    # see the whole teardown). Failures and shard read the reports from pytest's terminal
    # reporter when the gate report is made: no report hook.
    assert hooks["pytest_runtest_setup"] == [["gridgate-per-test-setup", "plain"]]
    assert hooks["pytest_runtest_teardown"] == [["gridgate-per-test-around-teardown", "wrapper"]]
    assert hooks["pytest_runtest_logreport"] == []
    # The failures gate takes a failed phase's exception from pytest_exception_interact,
    # which pytest calls for failures only.
    assert hooks["pytest_runtest_makereport"] == []


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
def test_a_blocked_gate_leaves_the_reports_to_the_other(gated: Gated, blocked: str) -> None:
    gated.project("", conftest=LIST_HOOKS, test_two=FAILING)
    run = gated.run("-p", f"no:pytest_gridgate.{blocked}")
    run.result.assert_outcomes(passed=1, failed=1)
    # What the other gate takes from every test report is still there.
    if blocked == "failures":
        assert run.report["shard"]["ran"] == ["test_two.py::test_passes", "test_two.py::test_fails"]
    else:
        [failure] = run.report["failures"]
        assert (failure["nodeid"], failure["category"]) == ("test_two.py::test_fails", "assertion")


@pytest.mark.parametrize(
    ("args", "hooks_file", "hook"),
    [
        # No terminal reporter keeps the reports: the gate report's own tally reads each,
        # after the categories are attached (the first report hook).
        (
            ("-p", "no:terminal"),
            "hooks.json",
            [["gridgate-report-tally", "plain"], ["gridgate-per-test-reports", "plain"]],
        ),
        # Each worker attaches the categories before it sends the report to the
        # controller, which reads them from its terminal reporter. (The controller's one
        # report hook is the timeouts gate's: it marks the reports of timed-out tests.)
        (("-n", "2"), "hooks-gw0.json", [["gridgate-per-test-reports", "plain"]]),
        (("-n", "2"), "hooks.json", [["gridgate-timed-out-reports", "plain"]]),
    ],
    ids=["no-terminal", "xdist-worker", "xdist-controller"],
)
def test_the_reports_are_read_where_no_terminal_keeps_them(
    gated: Gated, args: tuple[str, ...], hooks_file: str, hook: list[list[str]]
) -> None:
    gated.project("", conftest=LIST_HOOKS, test_two=FAILING)
    run = gated.run(*args)
    assert run.report["counts"]["failed"] == 1
    hooks = json.loads((gated.pytester.path / hooks_file).read_text())
    assert hooks["pytest_runtest_logreport"] == hook
    # A worker notes each exception as it is raised, for the entry it sends; so does a
    # run whose reports are read as they are logged (no terminal reporter).
    as_raised = hooks_file == "hooks-gw0.json" or "no:terminal" in args
    raised = [["gridgate-failures-raised", "plain"]] if as_raised else []
    assert hooks["pytest_runtest_makereport"] == raised
    assert sorted(run.report["shard"]["ran"]) == [
        "test_two.py::test_fails",
        "test_two.py::test_passes",
    ]
    assert {d["nodeid"] for d in run.report["durations"]} == set(run.report["shard"]["ran"])
    [failure] = run.report["failures"]
    assert (failure["nodeid"], failure["category"]) == ("test_two.py::test_fails", "assertion")
