"""Per-test leak and zombie detection (work in progress)."""

from __future__ import annotations
