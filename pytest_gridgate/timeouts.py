"""timeouts gate (work in progress)."""

from __future__ import annotations
