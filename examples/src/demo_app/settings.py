"""Settings read from the environment; gridgate's [tool.gridgate.env] provides test defaults."""

from __future__ import annotations

import os


def database_url() -> str:
    return os.environ["DEMO_DATABASE_URL"]


def vector_store() -> str:
    return os.environ.get("DEMO_VECTOR_STORE", "remote")
