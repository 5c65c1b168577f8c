"""The session budget (``timeouts.session``), directly: a ``SessionBudget`` over a real
collected session, checked after a test as the timer's cancel call does. Budgets are
placed in the past or far in the future, so that nothing depends on how fast this runs.
"""

from __future__ import annotations

import time

import pytest

from pytest_gridgate.timeouts.budget import SessionBudget

_SUITE = """
def test_one(): pass
def test_two(): pass
def test_three(): pass
def test_four(): pass
"""


@pytest.fixture
def session(pytester: pytest.Pytester) -> pytest.Session:
    pytester.makeini("[pytest]\naddopts = -p no:gridgate -p no:cacheprovider")
    items = pytester.getitems(_SUITE)
    assert len(items) == 4
    session = items[0].session
    session.items = items  # as Session.perform_collect leaves them for the run
    return session


def _spent(role: str = "") -> SessionBudget:
    return SessionBudget(10.0, time.time() - 11.0, role)  # started 11 s ago: spent


def test_a_budget_not_spent_lets_tests_run(session: pytest.Session) -> None:
    budget = SessionBudget(3600.0, time.time(), "")
    budget.session = session

    budget.check(session.items[0].nodeid)

    assert not budget.expired()
    assert not session.shouldfail
    assert budget.stopped_with is None


def test_a_spent_budget_stops_the_session_after_the_test(session: pytest.Session) -> None:
    budget = _spent()
    budget.session = session

    budget.check(session.items[1].nodeid)  # two of four done

    assert budget.expired()
    assert budget.stopped_with == 2
    assert session.shouldfail == (
        "gridgate: session budget of 10s (timeouts.session) spent; 2 tests not run"
    )
    assert budget.not_run(session.config) == 2
    # Checked once: the next test's check changes nothing.
    budget.check(session.items[2].nodeid)
    assert budget.stopped_with == 2


def test_after_the_last_test_nothing_is_left_to_stop(session: pytest.Session) -> None:
    budget = _spent()
    budget.session = session

    budget.check(session.items[-1].nodeid)

    assert budget.stopped_with == 0
    assert session.shouldfail.endswith("; 0 tests not run")


def test_an_xdist_worker_stops_itself_and_leaves_the_count_to_the_controller(
    session: pytest.Session,
) -> None:
    budget = _spent("worker")
    budget.session = session

    budget.check(session.items[0].nodeid)

    assert budget.expired()
    assert session.shouldfail == (
        "gridgate: session budget of 10s (timeouts.session) spent; this worker stops"
    )


def test_the_xdist_controller_never_stops_a_test_and_counts_by_the_clock(
    session: pytest.Session,
) -> None:
    budget = _spent("controller")
    budget.session = session

    budget.check(session.items[0].nodeid)

    assert budget.expired()  # by the clock: the workers stop themselves
    assert budget.stopped_with is None
    assert not session.shouldfail
    assert not SessionBudget(3600.0, time.time(), "controller").expired()


def test_a_worker_runs_on_the_controllers_clock() -> None:
    assert SessionBudget.started_on_controller({"_gridgate_session_started": 12.5}, 99.0) == 12.5
    assert SessionBudget.started_on_controller({}, 99.0) == 99.0
