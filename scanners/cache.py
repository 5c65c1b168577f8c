"""The result cache: ``.gridgate_cache/`` in the project root.

One JSON file per *run key*, a hash of everything besides the file's own bytes that can
change a result: the effective scan settings (select/ignore included), the current directory
relative to the root (paths in findings are relative to it), the gridgate version, the
Python version, the installed distributions' entry points (where rule plugins come from)
and the size and mtime of the scanner's own modules (so an edited rule in a development
checkout invalidates the cache). Inside it, each file's entry is keyed by its path and the
hash of its content.

A warm run reads that one file and is done: no libcst import, no worker process. A file
whose ``os.stat`` is the one stored with its entry is not even read (as ``git status``
does); any other file is read and hashed. A cache that cannot be read or written is
silently ignored; it is an accelerator, never a source of errors.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from scanners.result import FileResult

DIRECTORY = ".gridgate_cache"
# A file's size, mtime, ctime and inode (see scanners.engine.signature).
Signature = tuple[int, int, int, int]
_FORMAT = 1
KEEP_RUN_FILES = 8  # cache files of other configurations kept (most recently used first)


def _module_fingerprint() -> list[tuple[str, int, int]]:
    package = Path(__file__).resolve().parent
    stamps: list[tuple[str, int, int]] = []
    for current, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                stat = os.stat(os.path.join(current, name))
                stamps.append(
                    (
                        os.path.relpath(os.path.join(current, name), package),
                        stat.st_mtime_ns,
                        stat.st_size,
                    )
                )
    return stamps


def _entry_point_files() -> list[tuple[str, int, int]]:
    """The ``entry_points.txt`` of every distribution on ``sys.path``, with mtime and size:
    installing, upgrading (a new ``.dist-info`` name) or removing a rule plugin changes
    them. Listing and stamping them costs a few milliseconds; reading and parsing every
    distribution's entry points (``importlib.metadata``) cost a fifth of a warm run."""
    stamps: list[tuple[str, int, int]] = []
    for entry in sys.path:
        directory = entry or "."
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info")):
                path = os.path.join(directory, name, "entry_points.txt")
                try:
                    stat = os.stat(path)
                except OSError:
                    continue
                stamps.append((path, stat.st_mtime_ns, stat.st_size))
    return sorted(stamps)


def run_key(settings_repr: str, cwd_relative: str) -> str:
    from pytest_gridgate import __version__

    material = json.dumps(
        [
            _FORMAT,
            __version__,
            sys.version,
            settings_repr,
            cwd_relative,
            _entry_point_files(),
            _module_fingerprint(),
        ]
    )
    return hashlib.blake2b(material.encode(), digest_size=16).hexdigest()


class Cache:
    def __init__(self, root: Path, key: str) -> None:
        self.directory = root / DIRECTORY
        self.file = self.directory / f"{key}.json"
        self._entries: dict[str, list[Any]] = {}
        self._notes: dict[str, list[Any]] = {}
        self._dirty = False
        try:
            data = json.loads(self.file.read_bytes())
            if isinstance(data, dict) and isinstance(data.get("files"), dict):
                self._entries = data["files"]
                self._notes = data.get("notes", {})
        except (OSError, ValueError):
            pass

    def get(self, path: str, digest: str) -> FileResult | None:
        entry = self._entries.get(path)
        if entry is None or entry[0] != digest:
            return None
        try:
            return FileResult.from_json(entry[1])
        except (TypeError, ValueError):
            return None

    def get_unchanged(self, path: str, signature: Signature, package: bool) -> FileResult | None:
        """The result of a file whose ``os.stat`` signature is the one stored with it (see
        :func:`scanners.engine.signature`): answered without reading the file."""
        entry = self._entries.get(path)
        if entry is None or len(entry) < 3 or entry[2] != list(signature):
            return None
        if str(entry[0]).endswith(":package") != package:
            return None
        try:
            return FileResult.from_json(entry[1])
        except (TypeError, ValueError):
            return None

    def put(
        self, path: str, digest: str, result: FileResult, signature: Signature | None = None
    ) -> None:
        entry: list[Any] = [digest, result.to_json()]
        if signature is not None:
            entry.append(list(signature))
        self._entries[path] = entry
        self._dirty = True

    def get_note(self, name: str, digest: str) -> Any:
        """A whole-run result (e.g. which ``allow_in`` globs matched) stored for ``digest``."""
        entry = self._notes.get(name)
        return entry[1] if isinstance(entry, list) and entry[0] == digest else None

    def put_note(self, name: str, digest: str, value: Any) -> None:
        self._notes[name] = [digest, value]
        self._dirty = True

    def retain(self, paths: set[str]) -> None:
        """Forget files that are gone (call after a scan of the whole project)."""
        stale = [path for path in self._entries if path not in paths]
        for path in stale:
            del self._entries[path]
        self._dirty = self._dirty or bool(stale)

    def _prune(self) -> None:
        """Keep the cache files of the most recently used configurations only."""
        runs = sorted(self.directory.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in runs[KEEP_RUN_FILES:]:
            old.unlink(missing_ok=True)

    def save(self) -> None:
        if not self._dirty:
            return
        try:
            self.directory.mkdir(exist_ok=True)
            ignore = self.directory / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# Created by gridgate scan.\n*\n")
            # Write then rename, so a concurrent run never reads half a file.
            fd, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(fd, "w") as handle:
                json.dump(
                    {"files": self._entries, "notes": self._notes}, handle, separators=(",", ":")
                )
            os.replace(temporary, self.file)
            self._prune()
        except OSError:
            pass
