"""``fix_python``: GG001 inside ``async def`` becomes ``get_running_loop``, nothing else moves."""

from __future__ import annotations

import pytest

from pytest_gridgate.settings import ScanSettings
from scanners.finding import ParseFailure
from scanners.rules import check_python, fix_python

SETTINGS = ScanSettings()


def gg001(source: bytes, path: str = "pkg/mod.py") -> list[tuple[int, bool]]:
    found = check_python(path, source, SETTINGS, lambda code: code == "GG001")
    return [(f.line, f.fixable) for f in found]


def test_fix_keeps_alias_formatting_and_comments() -> None:
    source = (
        b"import asyncio as aio\n\n"
        b"async def main():\n"
        b"    loop = aio.get_event_loop( )  # keep me\n"
        b"    other = aio . get_event_loop()\n"
        b"    return loop, other\n"
    )
    assert gg001(source) == [(4, True), (5, True)]
    fixed = fix_python("pkg/mod.py", source, SETTINGS)
    assert fixed == (
        b"import asyncio as aio\n\n"
        b"async def main():\n"
        b"    loop = aio.get_running_loop( )  # keep me\n"
        b"    other = aio . get_running_loop()\n"
        b"    return loop, other\n"
    )
    assert gg001(fixed) == []


def test_only_async_context_is_fixed() -> None:
    source = (
        b"import asyncio\n"
        b"def sync():\n    return asyncio.get_event_loop()\n"
        b"async def outer():\n"
        b"    def inner():\n        return asyncio.get_event_loop()\n"
        b"    return asyncio.get_event_loop()\n"
    )
    assert gg001(source) == [(3, False), (6, False), (7, True)]
    fixed = fix_python("pkg/mod.py", source, SETTINGS)
    assert fixed is not None
    assert fixed.count(b"get_running_loop") == 1
    assert gg001(fixed) == [(3, False), (6, False)]


def test_events_module_and_bare_names() -> None:
    source = (
        b"from asyncio import events, get_event_loop, get_running_loop\n"
        b"async def main():\n    events.get_event_loop()\n    get_event_loop()\n"
    )
    fixed = fix_python("pkg/mod.py", source, SETTINGS)
    assert fixed == (
        b"from asyncio import events, get_event_loop, get_running_loop\n"
        b"async def main():\n    events.get_running_loop()\n    get_running_loop()\n"
    )


def test_bare_name_without_get_running_loop_is_reported_not_fixed() -> None:
    source = b"from asyncio import get_event_loop as gel\nasync def main():\n    gel()\n"
    assert gg001(source) == [(3, False)]
    assert fix_python("pkg/mod.py", source, SETTINGS) is None


def test_nothing_to_fix_and_latin1_source() -> None:
    assert fix_python("pkg/mod.py", b"import asyncio\n", SETTINGS) is None
    source = (
        "# -*- coding: latin-1 -*-\nimport asyncio\nNAME = 'café'\n"
        "async def main():\n    asyncio.get_event_loop()\n"
    ).encode("latin-1")
    fixed = fix_python("pkg/mod.py", source, SETTINGS)
    assert fixed == source.replace(b"get_event_loop", b"get_running_loop")


def test_broken_file_is_never_touched() -> None:
    with pytest.raises(ParseFailure):
        fix_python("pkg/mod.py", b"async def main(:\n    asyncio.get_event_loop()\n", SETTINGS)
