"""gridgate's source and workflow scanners (``gridgate scan``)."""

from __future__ import annotations

from scanners.finding import Finding, ParseFailure

__all__ = ["Finding", "ParseFailure"]
