"""One cause, many findings: leak entries grouped by kind, detail and origin.

A shared ``setUp`` that sets a variable and never removes it makes every test that runs it
leak the same variable: hundreds of findings of one line of code. The gate report lists
each test's finding (the ``leaks`` section) and, next to them, the groups (the
``leak_groups`` section, one verdict line each): the same kind and detail, made at the same
place, with a count and the place to fix it.

The place is the entry's ``origin`` where the check knows it (where the variable was set,
where the thread was started), else the fixture owning the resource, else what the tests
of the group have in common: their class, or their module. Groups of one kind whose
origins are lines of one function (or adjacent lines) and that were found in the very
same tests are one group too: a ``setUp`` setting two variables is one place to fix.
Standard library only, no pytest: the entries may come from the JSON report of any
process.
"""

from __future__ import annotations

import re
from typing import Any

from pytest_gridgate.leaks.sites import SPANS, FunctionSpans, parse_site

#: The ``fixture`` of an entry for what was still running when the session ended.
SESSION_OWNER = "session"
#: Tests named in a group's verdict line before "and N more" (the JSON lists them all).
SHOWN_TESTS = 3
#: Lines this far apart at most are one place where the function holding them is unknown
#: (a source that cannot be read here, module level).
ADJACENT_LINES = 1


def describe_owner(entry: dict[str, Any], within: str | None = None) -> str:
    """Who an entry blames: the test, or the fixture (or session) owning the resource;
    ``within``: the test whose own report this is (its id goes without saying)."""
    fixture, nodeid = entry.get("fixture"), entry["nodeid"]
    if fixture == SESSION_OWNER:
        return "still running at session end" + ("" if nodeid == within else f" (after {nodeid})")
    if fixture:
        return f"fixture {fixture}" + ("" if nodeid == within else f" (finalized in {nodeid})")
    return str(nodeid)


def describe_origin(entry: dict[str, Any]) -> str:
    """Where the resource was made, when known and not already in its detail."""
    origin = entry.get("origin")
    if not origin or origin in entry["detail"]:
        return ""
    return f" (made at {origin})"


def _common_scope(nodeids: list[str]) -> str | None:
    """The class or module every one of ``nodeids`` belongs to, if they share one."""
    parents = {nodeid.rsplit("::", 1)[0] for nodeid in nodeids if "::" in nodeid}
    if len(parents) == 1 and len(nodeids) > 1:
        [parent] = parents
        return f"{'class' if '::' in parent else 'module'} {parent}"
    modules = {nodeid.split("::", 1)[0] for nodeid in nodeids}
    if len(modules) == 1 and len(nodeids) > 1:
        return f"module {next(iter(modules))}"
    return None


_NUMBER = re.compile(r"\d+")
_NUMBERED_KINDS = frozenset({"fd", "socket"})


def _cause(entry: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two entries one cause: kind, detail, origin and owning fixture.

    With a known origin, numbers in the detail do not count: one line that starts a thread
    per test starts ``Thread-7``, ``Thread-8``, ...; without one, the detail is all there is,
    except for descriptors, whose numbers (fd, inode, port) say nothing of their cause: a
    fixture that leaves a socket open leaves ``fd 30 -> socket:[278142]``, then fd 31...
    """
    origin = entry.get("origin")
    numbered = origin or entry["kind"] in _NUMBERED_KINDS
    detail = _NUMBER.sub("N", entry["detail"]) if numbered else entry["detail"]
    return entry["kind"], detail, origin, entry.get("fixture")


def group(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries grouped by cause (:func:`_cause`), then the groups of one place merged
    (:func:`_merge_one_place`), in first-seen order; a group's detail is its first entry's.

    Each group: ``kind``, ``detail``, ``origin`` (``file:line``, ``fixture NAME``,
    ``class ...``, ``module ...`` or None), ``count`` and ``nodeids`` (every entry's test),
    ``cleaned``; ``details`` and ``origins`` (one per place merged into the group: its
    ``detail`` joins them, its ``origin`` is the first line), ``function`` (what holds a
    ``file:line`` origin, where the source says) and ``findings`` (the entries of all its
    places; ``count`` is each place's).
    """
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for entry in entries:
        fixture = entry.get("fixture")
        key = _cause(entry)
        found = groups.get(key)
        if found is None:
            found = groups[key] = {
                "kind": entry["kind"],
                "detail": entry["detail"],
                "origin": entry.get("origin"),
                "fixture": fixture,
                "count": 0,
                "nodeids": [],
                "cleaned": False,
            }
        found["count"] += 1
        found["nodeids"].append(entry["nodeid"])
        found["cleaned"] = found["cleaned"] or bool(entry.get("cleaned"))
    spans = SPANS
    for found in groups.values():
        if found["origin"] is None:
            fixture = found["fixture"]
            if fixture and fixture != SESSION_OWNER:
                found["origin"] = f"fixture {fixture}"
            else:
                found["origin"] = _common_scope(found["nodeids"])
        site = parse_site(found["origin"])
        held = spans.function_at(*site) if site else None
        found["function"] = held[0] if held else None
        found["details"] = [found["detail"]]
        found["origins"] = [found["origin"]] if found["origin"] else []
        found["findings"] = found["count"]
    return _merge_one_place(list(groups.values()), spans)


def _merge_one_place(groups: list[dict[str, Any]], spans: FunctionSpans) -> list[dict[str, Any]]:
    """Groups of one kind and fixture, found in the very same tests, whose origins are
    lines of one function (else adjacent lines) of one file, merged into one: pexpect's
    shared ``setUp`` sets two variables on two lines, one cause in 245 tests."""
    candidates: dict[tuple[Any, ...], list[tuple[int, dict[str, Any]]]] = {}
    for found in groups:
        site = parse_site(found["origin"])
        if site is not None:
            tests = tuple(sorted(found["nodeids"]))
            key = found["kind"], found["fixture"], site[0], tests
            candidates.setdefault(key, []).append((site[1], found))
    into: dict[int, dict[str, Any]] = {}  # id of a merged group -> the group it is part of
    for (_, _, path, _), members in candidates.items():
        for place in _places(path, sorted(members, key=lambda m: m[0]), spans):
            if len(place) > 1:
                merged = _merged(place)
                into.update((id(found), merged) for found in place)
    result: dict[int, dict[str, Any]] = {}  # by id: in first-seen order, each once
    for found in groups:
        target = into.get(id(found), found)
        result.setdefault(id(target), target)
    return list(result.values())


def _places(
    path: str, members: list[tuple[int, dict[str, Any]]], spans: FunctionSpans
) -> list[list[dict[str, Any]]]:
    """``members`` (by line) split by the function holding their line; those outside any
    known function, into runs of adjacent lines."""
    by_function: dict[tuple[str, int], list[dict[str, Any]]] = {}
    runs: list[list[dict[str, Any]]] = []
    last_line = None
    for line, found in members:
        held = spans.function_at(path, line)
        if held is not None:
            by_function.setdefault(held, []).append(found)
            continue
        if last_line is None or line - last_line > ADJACENT_LINES:
            runs.append([])
        runs[-1].append(found)
        last_line = line
    return [*by_function.values(), *runs]


def _merged(place: list[dict[str, Any]]) -> dict[str, Any]:
    """One group of ``place`` (groups by line, found in the same tests): the first line's."""
    first = place[0]
    return {
        **first,
        "detail": ", ".join(found["detail"] for found in place),
        "cleaned": any(found["cleaned"] for found in place),
        "details": [found["detail"] for found in place],
        "origins": [found["origin"] for found in place],
        "findings": sum(found["count"] for found in place),
    }


def _where(found: dict[str, Any]) -> str | None:
    """The place to fix a group: its origin, and the other lines of a merged one."""
    origins = found.get("origins") or []
    if len(origins) < 2:
        return found["origin"]  # type: ignore[no-any-return]
    lines = [str(site[1]) for site in map(parse_site, origins[1:]) if site]
    function = found.get("function")
    inside = f", in {function}" if function else ""
    return f"{origins[0]} (and line {', '.join(lines)}{inside})"


def verdict_line(found: dict[str, Any]) -> str:
    """A group as one line of the leaks verdict (terminal section and Markdown)."""
    cleaned = " [cleaned up]" if found["cleaned"] else ""
    if found["count"] == 1:
        # The owning fixture is named already: as an origin it would say nothing more.
        by_fixture = found["origin"] == f"fixture {found['fixture']}"
        entry = {**found, "nodeid": found["nodeids"][0]}
        entry["origin"] = None if by_fixture else _where(found)
        return (
            f"{describe_owner(entry)}: {found['kind']}: {found['detail']}"
            f"{describe_origin(entry)}{cleaned}"
        )
    nodeids = list(dict.fromkeys(found["nodeids"]))  # a test with two findings: once
    shown = ", ".join(nodeids[:SHOWN_TESTS])
    more = len(nodeids) - SHOWN_TESTS
    tests = shown + (f" and {more} more" if more > 0 else "")
    origin = _where(found)
    where = f", from {origin}: fix it there" if origin else ""
    owner = f" (fixture {found['fixture']})" if found["fixture"] else ""
    head = f"{found['count']} x {found['kind']}: {found['detail']}{owner}"
    return f"{head}{where}{cleaned} (tests: {tests})"
