"""The history file and its sibling state file, standard library only.

``history.jsonl`` holds one compact JSON line per run and is only ever appended to: each
line goes out in one ``write`` on a descriptor opened with ``O_APPEND``, under an
exclusive ``flock`` on the file itself, so two CI jobs (or two shards' gate jobs on one
runner) that add at once never interleave or lose a line. A reader skips a line it cannot
use (a truncated last line after a killed job, a merge conflict marker) with a warning
naming its number, and keeps every other line; the next append starts on a fresh line.

What comparing the next run needs and no chart does (the collected node ids, each
test's seconds) is kept per branch in ``history.state.json`` beside it, replaced whole
(temporary file, rename) under the same lock, so the lines stay small: about 1 KB a run
whatever the size of the suite.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pytest_gridgate.whole_file import write_whole

LINE_VERSION = 1
STATE_VERSION = 1


class HistoryError(Exception):
    """The history cannot be read or written at all (not one bad line): exit 2."""


def state_path(history: Path) -> Path:
    """``.gridgate/history.jsonl`` -> ``.gridgate/history.state.json``."""
    return history.with_name(history.name.removesuffix(".jsonl") + ".state.json")


def parse_lines(raw: bytes, path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The usable runs in ``raw`` and a warning per line skipped (``PATH:LINE: ...``)."""
    entries: list[dict[str, Any]] = []
    warnings: list[str] = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        problem = ""
        try:
            entry = json.loads(line)
        except ValueError as exc:  # UnicodeDecodeError is a ValueError too
            problem = f"not JSON ({exc.__class__.__name__}: {exc})"
        else:
            if not isinstance(entry, dict) or entry.get("v") != LINE_VERSION:
                problem = f"not a gridgate history line (version {LINE_VERSION})"
            elif not isinstance(entry.get("branch"), str) or not isinstance(
                entry.get("collected"), int
            ):
                problem = "a history line without its branch or collected count"
        if problem:
            warnings.append(f"{path}:{number}: warning: line skipped: {problem}")
        else:
            entries.append(entry)
    return entries, warnings


def read_history(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every usable run in the history at ``path`` (none if it does not exist yet)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_lines(raw, path)


def read_state(path: Path) -> tuple[dict[str, Any], list[str]]:
    """The per-branch state; a damaged one is a warning and a fresh start, since it only
    holds what the lines summarise (the next run rebuilds it)."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {"version": STATE_VERSION, "branches": {}}, []
    except (OSError, ValueError) as exc:
        fresh = {"version": STATE_VERSION, "branches": {}}
        return fresh, [f"{path}: warning: state unreadable ({exc}); vanished tests not judged"]
    if not isinstance(data, dict) or not isinstance(data.get("branches"), dict):
        fresh = {"version": STATE_VERSION, "branches": {}}
        return fresh, [f"{path}: warning: not a gridgate history state; starting anew"]
    return data, []


class LockedHistory:
    """The history held under an exclusive lock: read it, append a line, replace the
    state. Obtain it with :func:`locked`."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd

    def read(self) -> tuple[list[dict[str, Any]], list[str]]:
        size = os.fstat(self.fd).st_size
        chunks = []
        offset = 0
        while offset < size:
            chunk = os.pread(self.fd, min(size - offset, 1 << 20), offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
        return parse_lines(b"".join(chunks), self.path)

    def append(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":"), ensure_ascii=False) + "\n"
        data = line.encode("utf-8")
        size = os.fstat(self.fd).st_size
        if size and os.pread(self.fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a truncated last line stays one (skipped) line
        # One write with O_APPEND: the line lands whole at the end. A short write (a full
        # disk) is an error, not a torn line left for the next reader.
        written = os.write(self.fd, data)
        if written != len(data):
            os.ftruncate(self.fd, size)
            raise HistoryError(f"{self.path}: short write ({written} of {len(data)} bytes)")

    def write_state(self, state: dict[str, Any]) -> None:
        text = json.dumps(state, separators=(",", ":"), ensure_ascii=False)
        write_whole(state_path(self.path), text)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[LockedHistory]:
    """The history at ``path`` (created with its folder if missing), locked for this
    process until the block ends."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise HistoryError(f"{path}: cannot open: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield LockedHistory(path, fd)
    finally:
        os.close(fd)  # releases the lock
