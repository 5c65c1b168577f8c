"""Which files a scan looks at.

Directories are listed by git when they are inside a work tree (``git ls-files --cached
--others --exclude-standard``), so every ``.gitignore``, ``.git/info/exclude`` and the user's
global excludes apply exactly as git applies them. Outside a work tree the directory is
walked and no ignore file is read. Either way the scan never enters a virtual environment
(a directory holding ``pyvenv.cfg`` or ``conda-meta``), VCS metadata, caches or
``node_modules``, and never follows a symlinked directory, so a symlink loop cannot hang it.

Files named explicitly on the command line are scanned even when git ignores them (that is
what pre-commit does), and so is a named directory that git ignores as a whole. As in ruff,
they are also scanned when the configured ``exclude`` globs cover them, unless
``force_exclude`` (``--force-exclude``, and always under pre-commit); inside a named
directory ``exclude`` applies as usual, except the globs that cover the whole directory.

A directory that cannot be listed is not skipped in silence: it is returned in
``unreadable`` so that the scan reports it (GG000), as it does a file it cannot read.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from scanners.globs import covered_by_any, glob_covers

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


@dataclass(frozen=True, order=True)
class UnreadableDirectory:
    """A directory the scan could not list: ``display`` as for a :class:`SourceFile`."""

    display: str
    reason: str


class PathNotFound(Exception):
    """A path given on the command line does not exist (a usage error, exit 2)."""


# --------------------------------------------------------------------------- listing


def _kind(name: str, explicit: bool) -> str | None:
    if name.endswith(PYTHON_SUFFIXES):
        return "python"
    if name.endswith(YAML_SUFFIXES) and (explicit or "/.github/workflows/" in "/" + name):
        return "workflow"
    return None


# git lists what it can and warns about a directory it cannot open (exit status 0).
_GIT_UNREADABLE = re.compile(r"^warning: could not open directory '(.*?)/?': (.*)$", re.MULTILINE)


def _git_listing(directory: str, unreadable: list[tuple[str, str]]) -> list[str] | None:
    """Files under ``directory`` as git sees them (relative to it), or None outside git.

    Directories git could not open are appended to ``unreadable`` (relative, with why)."""
    try:
        completed = subprocess.run(
            [
                *("git", "-C", directory, "ls-files", "-z"),
                *("--cached", "--others", "--exclude-standard", "--", "."),
            ],
            capture_output=True,
            check=False,
            timeout=60,
            env={**os.environ, "LC_ALL": "C"},  # the warnings are parsed: untranslated
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if completed.returncode != 0:
        return None
    names = completed.stdout.decode("utf-8", "surrogateescape").split("\0")
    warnings = completed.stderr.decode("utf-8", "replace")
    unreadable += [(m.group(1), m.group(2)) for m in _GIT_UNREADABLE.finditer(warnings)]
    return sorted({name for name in names if name})


def _is_environment(names: Iterable[str]) -> bool:
    return any(marker in names for marker in ENVIRONMENT_MARKERS)


def _walk_listing(
    top: str, pruned: Callable[[str], bool], unreadable: list[tuple[str, str]]
) -> list[str]:
    """Files under ``top`` (relative to it). ``pruned(relative_dir)`` skips a directory;
    one that cannot be listed is appended to ``unreadable`` (relative, with why).

    Symlinked directories are never entered, which is what makes a symlink loop harmless.
    """
    found: list[str] = []
    stack = [(top, "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            with os.scandir(directory) as scan:
                entries = list(scan)
        except OSError as exc:
            unreadable.append((prefix.rstrip("/"), exc.strerror or type(exc).__name__))
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
    force_exclude: bool = False,
    unreadable: list[UnreadableDirectory] | None = None,
) -> list[SourceFile]:
    """Every file to scan under ``paths``, sorted and without duplicates.

    ``paths`` are relative to the current directory when ``explicit`` (command-line
    arguments), else to ``root`` (the configured ``scan.paths``). A path that does not
    exist raises :class:`PathNotFound`, or is appended to ``missing`` when that is given.
    Explicit paths are scanned even when ``exclude`` covers them, unless ``force_exclude``.
    Directories that cannot be listed are appended to ``unreadable``.
    """
    named_exempt = explicit and not force_exclude
    not_listed: list[UnreadableDirectory] = [] if unreadable is None else unreadable
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

            active = tuple(exclude)
            if named_exempt and to_root:
                # A named directory is scanned even when a glob excludes all of it (NUL
                # is in no file name, so a glob covering it covers every name below).
                active = tuple(g for g in exclude if not glob_covers(g, to_root + "\0"))

            def pruned(name: str, to_root: str = to_root, active: tuple[str, ...] = active) -> bool:
                return covered_by_any(active, to_root + name)

            # Nothing from git: not a work tree, or a directory git ignores as a whole
            # (a Python installation inside a pyenv checkout); named, so scanned anyway.
            cannot_list: list[tuple[str, str]] = []
            listing = _git_listing(path, cannot_list)
            from_git = bool(listing)
            if listing:
                listing = _git_filter(path, listing)
            else:
                cannot_list.clear()
                listing = _walk_listing(path, pruned, cannot_list)
            for name, reason in cannot_list:
                if name and pruned(name):
                    continue
                full = os.path.join(path, name) if name else path
                display = _relative(full, cwd).rstrip("/") or "."
                not_listed.append(UnreadableDirectory(display, reason))
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
            if kind is not None and (named_exempt or not covered_by_any(exclude, relative)):
                display = _relative(path, cwd).rstrip("/")
                result.setdefault(display, SourceFile(display, path, relative, kind))
        elif missing is not None:
            missing.append(given)
        else:
            raise PathNotFound(given)
    return sorted(result.values())
