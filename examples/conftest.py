"""Reads DEMO_DATABASE_URL at import time, as many real conftests do.

Without gridgate's [tool.gridgate.env] defaults (applied before any conftest is imported)
this line raises KeyError and no test runs at all.
"""

import os

import pytest

DATABASE_URL = os.environ["DEMO_DATABASE_URL"]


@pytest.fixture
def database_url() -> str:
    return DATABASE_URL
