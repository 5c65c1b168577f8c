"""Command line of the scanner (work in progress)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    print("gridgate scan: not implemented yet", args, file=sys.stderr)
    return 2
