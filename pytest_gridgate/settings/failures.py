"""``[tool.gridgate.failures]``: the failures gate's settings (``pytest_gridgate.failures``)."""

from __future__ import annotations

import typing
from typing import Literal, NamedTuple

from pytest_gridgate.settings.declare import section

FailureCategory = Literal[
    "assertion",
    "exception",
    "setup",
    "teardown",
    "timeout",
    "leak",
    "memory",
    "crash",
    "collection",
    "infra",
]
FAILURE_CATEGORIES: tuple[FailureCategory, ...] = typing.get_args(FailureCategory)

# Regular expressions searched in "Type: message" of a failure's exception, of each class it
# derives from and of the exceptions it was raised from (see pytest_gridgate/categories.py).
DEFAULT_INFRA: tuple[str, ...] = (
    r"^(ConnectionRefusedError|ConnectionResetError|ConnectionAbortedError)\b",
    r"Connection refused|Connection reset by peer",
    r"^(socket\.)?gaierror\b|Name or service not known|Temporary failure in name resolution"
    r"|nodename nor servname provided",
    r"Address already in use|EADDRINUSE",
    r"No space left on device|ENOSPC|Disk quota exceeded",
)


class FailureSettings(NamedTuple):
    infra: tuple[str, ...] = DEFAULT_INFRA


section(
    "failures",
    FailureSettings,
    doc="A category for every failure (`pytest_gridgate/failures.py`, docs/failures.md).",
    keys={
        "infra": (
            "list of regular expressions, searched in `Type: message` of a failure's "
            "exception, its base classes and its causes ([failures.md](failures.md))",
            "connection refused/reset, DNS failures, `EADDRINUSE`, disk full",
            "failures that are the infrastructure's, not the code's",
        ),
    },
)
