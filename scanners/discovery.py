"""Which files a scan looks at.

Directories are listed by git when they are inside a work tree (``git ls-files --cached
--others --exclude-standard``), so every ``.gitignore``, ``.git/info/exclude`` and the user's
global excludes apply exactly as git applies them. Outside a work tree the directory is
walked and no ignore file is read. Either way the scan never enters a virtual environment
(a directory holding ``pyvenv.cfg`` or ``conda-meta``), VCS metadata, caches or
``node_modules``, and never follows a symlinked directory, so a symlink loop cannot hang it.

Files named explicitly on the command line are scanned even when git ignores them (that is
what pre-commit does); the configured ``exclude`` globs still apply to them.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SKIPPED_DIRECTORIES = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        "node_modules",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".gridgate_cache",
    }
)
# A directory holding one of these is an environment, not project source.
ENVIRONMENT_MARKERS = ("pyvenv.cfg", "conda-meta")
PYTHON_SUFFIXES = (".py",)
YAML_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True, order=True)
class SourceFile:
    """A file to scan. ``display`` is relative to the current directory, ``/``-separated;
    ``relative`` is relative to the project root (what configured globs match against)."""

    display: str
    path: str
    relative: str
    kind: str  # "python" | "workflow"


class PathNotFound(Exception):
    """A path given on the command line does not exist (a usage error, exit 2)."""


# --------------------------------------------------------------------------- globs


@lru_cache(maxsize=512)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a glob: ``**`` spans directories, ``*`` and ``?`` do not.

    As for the rules' globs (``allow_in``, ``not_implemented.paths``), a glob matches the
    whole path or any suffix of it that starts at a directory, so ``build/**`` also covers
    ``sub/build/x.py``; and one that names a directory covers everything below it.
    """
    pattern = pattern.replace("\\", "/").removeprefix("./").strip("/")
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            parts.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            parts.append(".*")
            i += 2
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            parts.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                parts.append(re.escape("["))
                i += 1
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                parts.append(f"[{body}]")
                i = end + 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    return re.compile(f"(?:.*/)?{''.join(parts)}(?:/.*)?", re.DOTALL)


def glob_match(pattern: str, relative: str) -> bool:
    """Whether a ``/``-separated path relative to the project root matches ``pattern``."""
    return _glob_regex(pattern).fullmatch(relative) is not None


def matches_any(patterns: Iterable[str], relative: str) -> bool:
    return any(glob_match(pattern, relative) for pattern in patterns)


# --------------------------------------------------------------------------- listing


def _kind(relative_to_listing: str, explicit: bool) -> str | None:
    if relative_to_listing.endswith(PYTHON_SUFFIXES):
        return "python"
    if relative_to_listing.endswith(YAML_SUFFIXES) and (
        explicit or "/.github/workflows/" in "/" + relative_to_listing
    ):
        return "workflow"
    return None


def _git_listing(directory: str) -> list[str] | None:
    """Files under ``directory`` as git sees them (relative to it), or None outside git."""
    try:
        completed = subprocess.run(
            [
                *("git", "-C", directory, "ls-files", "-z"),
                *("--cached", "--others", "--exclude-standard", "--", "."),
            ],
            capture_output=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if completed.returncode != 0:
        return None
    names = completed.stdout.decode("utf-8", "surrogateescape").split("\0")
    return sorted({name for name in names if name})


def _walk_listing(directory: str) -> list[str]:
    found: list[str] = []
    for current, dirs, files in os.walk(directory, followlinks=False):
        # os.walk never descends into a symlinked directory with followlinks=False, which
        # is what makes a symlink loop harmless.
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in SKIPPED_DIRECTORIES and not _is_environment(os.path.join(current, d))
        )
        base = os.path.relpath(current, directory)
        for name in files:
            found.append(name if base == "." else f"{base}/{name}".replace(os.sep, "/"))
    return found


@lru_cache(maxsize=4096)
def _is_environment(directory: str) -> bool:
    return any(os.path.exists(os.path.join(directory, marker)) for marker in ENVIRONMENT_MARKERS)


def _inside_skipped(directory: str, relative: str) -> bool:
    """Whether a listed file lies in a skipped directory or a virtual environment."""
    parts = relative.split("/")[:-1]
    current = directory
    for part in parts:
        if part in SKIPPED_DIRECTORIES:
            return True
        current = os.path.join(current, part)
        if _is_environment(current):
            return True
    return False


def _display(path: str, cwd: str) -> str:
    relative = os.path.relpath(path, cwd)
    return relative.replace(os.sep, "/")


def _root_relative(path: str, root: str) -> str:
    return os.path.relpath(os.path.abspath(path), root).replace(os.sep, "/")


def discover(
    paths: Sequence[str],
    *,
    root: Path,
    exclude: Sequence[str],
    explicit: bool,
    cwd: str | None = None,
) -> list[SourceFile]:
    """Every file to scan under ``paths``, sorted and without duplicates.

    ``paths`` are relative to the current directory when ``explicit`` (command-line
    arguments), else to ``root`` (the configured ``scan.paths``).
    """
    cwd = cwd or os.getcwd()
    root_str = os.path.abspath(root)
    base = cwd if explicit else root_str
    result: dict[str, SourceFile] = {}

    def add(path: str, kind: str) -> None:
        relative = _root_relative(path, root_str)
        if matches_any(exclude, relative):
            return
        display = _display(path, cwd)
        result.setdefault(display, SourceFile(display, path, relative, kind))

    for given in paths:
        path = os.path.normpath(os.path.join(base, given))
        if os.path.isdir(path):
            listing = _git_listing(path)
            if listing is None:
                listing = _walk_listing(path)
            for name in listing:
                kind = _kind(name, explicit=False)
                if kind is None or _inside_skipped(path, name):
                    continue
                full = os.path.join(path, name)
                # git lists tracked files that were deleted from the work tree.
                if os.path.lexists(full) and not os.path.isdir(full):
                    add(full, kind)
        elif os.path.lexists(path):
            # A file, a dangling symlink or a symlink loop: reading it is the engine's job,
            # and one it cannot read is a GG000 finding.
            kind = _kind(path.replace(os.sep, "/"), explicit=True)
            if kind is not None:
                add(path, kind)
        else:
            raise PathNotFound(given)
    return sorted(result.values())
