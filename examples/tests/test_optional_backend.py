"""DELIBERATE DEFECT (collection gate): exits the interpreter when an optional dependency
is missing. Plain pytest stops with INTERNALERROR (exit 3) and loses every other test;
gridgate turns it into an ordinary collection error and fails the run with exit 2.
The right way is `pytest.importorskip("demo_fast_backend")`.
"""

import sys

try:
    import demo_fast_backend
except ImportError:
    print("demo_fast_backend is not installed", file=sys.stderr)
    sys.exit(1)


def test_fast_backend_roundtrip() -> None:
    assert demo_fast_backend.roundtrip(b"x") == b"x"
