"""Which files a scan looks at.

Directories are listed by git when they are inside a work tree (``git ls-files --cached
--others --exclude-standard``), so every ``.gitignore``, ``.git/info/exclude`` and the user's
global excludes apply exactly as git applies them. Outside a work tree the directory is
walked and no ignore file is read. Either way the scan never enters a virtual environment
(a directory holding ``pyvenv.cfg`` or ``conda-meta``), VCS metadata, caches or
``node_modules``, and never follows a symlinked directory, so a symlink loop cannot hang it.

Files named explicitly on the command line are scanned even when git ignores them (that is
what pre-commit does), and so is a named directory that git ignores as a whole; the
configured ``exclude`` globs still apply to both.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from scanners.globs import covered_by_any

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


# --------------------------------------------------------------------------- listing


def _kind(name: str, explicit: bool) -> str | None:
    if name.endswith(PYTHON_SUFFIXES):
        return "python"
    if name.endswith(YAML_SUFFIXES) and (explicit or "/.github/workflows/" in "/" + name):
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


def _is_environment(names: Iterable[str]) -> bool:
    return any(marker in names for marker in ENVIRONMENT_MARKERS)


def _walk_listing(top: str, pruned: Callable[[str], bool]) -> list[str]:
    """Files under ``top`` (relative to it). ``pruned(relative_dir)`` skips a directory.

    Symlinked directories are never entered, which is what makes a symlink loop harmless.
    """
    found: list[str] = []
    stack = [(top, "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            with os.scandir(directory) as scan:
                entries = list(scan)
        except OSError:
            continue
        if prefix and _is_environment({entry.name for entry in entries}):
            continue
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            name = prefix + entry.name
            if not is_dir:
                found.append(name)
            elif entry.name not in SKIPPED_DIRECTORIES and not pruned(name):
                stack.append((entry.path, name + "/"))
    return found


def _git_filter(top: str, names: list[str]) -> list[str]:
    """Drop what git lists inside skipped directories and environments."""
    verdicts: dict[str, bool] = {"": True}

    def allowed(directory: str) -> bool:
        known = verdicts.get(directory)
        if known is None:
            parent, _, name = directory.rpartition("/")
            known = (
                allowed(parent)
                and name not in SKIPPED_DIRECTORIES
                and not any(
                    os.path.exists(os.path.join(top, directory, marker))
                    for marker in ENVIRONMENT_MARKERS
                )
            )
            verdicts[directory] = known
        return known

    return [name for name in names if allowed(name.rpartition("/")[0])]


def _relative(path: str, start: str) -> str:
    """``path`` relative to ``start``, ``/``-separated, "" when they are the same."""
    relative = os.path.relpath(path, start).replace(os.sep, "/")
    return "" if relative == "." else relative + "/"


def discover(
    paths: Sequence[str],
    *,
    root: Path,
    exclude: Sequence[str],
    explicit: bool,
    cwd: str | None = None,
    missing: list[str] | None = None,
) -> list[SourceFile]:
    """Every file to scan under ``paths``, sorted and without duplicates.

    ``paths`` are relative to the current directory when ``explicit`` (command-line
    arguments), else to ``root`` (the configured ``scan.paths``). A path that does not
    exist raises :class:`PathNotFound`, or is appended to ``missing`` when that is given.
    """
    cwd = os.path.abspath(cwd or os.getcwd())
    root_str = os.path.abspath(root)
    base = cwd if explicit else root_str
    result: dict[str, SourceFile] = {}

    for given in paths:
        path = os.path.normpath(os.path.join(base, given))
        if os.path.isdir(path):
            # Prefixes computed once per directory; per file it is string concatenation.
            to_root = _relative(path, root_str)
            to_cwd = _relative(path, cwd)
            # Concatenation works unless the current directory lies below ``path``.
            cwd_below = cwd != path and cwd.startswith(path.rstrip(os.sep) + os.sep)

            def pruned(name: str, to_root: str = to_root) -> bool:
                return covered_by_any(exclude, to_root + name)

            # Nothing from git: not a work tree, or a directory git ignores as a whole
            # (a Python installation inside a pyenv checkout); named, so scanned anyway.
            listing = _git_listing(path)
            from_git = bool(listing)
            listing = _git_filter(path, listing) if listing else _walk_listing(path, pruned)
            slashed = path.replace(os.sep, "/") + "/"
            for name in listing:
                kind = _kind(slashed + name, explicit=False)
                if kind is None or pruned(name):
                    continue
                full = os.path.join(path, name)
                # git lists tracked files that were deleted from the work tree.
                if from_git and not os.path.lexists(full):
                    continue
                display = _relative(full, cwd).rstrip("/") if cwd_below else to_cwd + name
                result.setdefault(display, SourceFile(display, full, to_root + name, kind))
        elif os.path.lexists(path):
            # A file, a dangling symlink or a symlink loop: reading it is the engine's job,
            # and one it cannot read is a GG000 finding.
            kind = _kind(path.replace(os.sep, "/"), explicit=True)
            relative = _relative(path, root_str).rstrip("/")
            if kind is not None and not covered_by_any(exclude, relative):
                display = _relative(path, cwd).rstrip("/")
                result.setdefault(display, SourceFile(display, path, relative, kind))
        elif missing is not None:
            missing.append(given)
        else:
            raise PathNotFound(given)
    return sorted(result.values())
