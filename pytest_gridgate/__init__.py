"""pytest-gridgate: a CI quality gate that cannot be fooled and never hangs."""

from __future__ import annotations

__version__ = "0.1.0"
