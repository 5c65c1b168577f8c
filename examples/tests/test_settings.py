import os

import pytest

from demo_app import settings


def test_database_url_from_gridgate_env(database_url: str) -> None:
    # [tool.gridgate.env] in pyproject.toml, unless the variable was already set.
    assert settings.database_url() == database_url


def test_vector_store_is_forced() -> None:
    # [tool.gridgate.env_force]: set even when the variable was already set.
    assert settings.vector_store() == "in_memory"


@pytest.mark.gridgate_env(DEMO_VECTOR_STORE="remote")
def test_marker_sets_a_variable_for_one_test() -> None:
    assert settings.vector_store() == "remote"


def test_marker_value_was_restored() -> None:
    assert os.environ["DEMO_VECTOR_STORE"] == "in_memory"
