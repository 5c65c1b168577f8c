"""Path globs of the scan settings, one dialect for every key.

``**`` matches any number of directories (also none), ``*`` and ``?`` stay inside one
directory, ``[...]`` is a character class (``[!...]`` negates). A glob matches a
``/``-separated path when it matches the whole path or any suffix of it that starts at a
directory, so the same configuration works whether paths are relative to the project or
to a directory above it.

Two ways to match: :func:`glob_matches` for the rules' keys that name files
(``allow_in``, ``required_finally.path``, ``not_implemented.paths``), and :func:`glob_covers`
for ``exclude`` and ``per_file_ignores``, where a glob that names a directory also covers
everything below it (``exclude = ["build"]``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache


def _translate(glob: str) -> str:
    glob = glob.replace("\\", "/").removeprefix("./").strip("/")
    parts: list[str] = []
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            parts.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            parts.append(".*")
            i += 2
        elif glob[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            parts.append("[^/]")
            i += 1
        elif glob[i] == "[" and (end := glob.find("]", i + 1)) != -1:
            body = glob[i + 1 : end].replace("\\", "\\\\")
            parts.append(f"[{'^' + body[1:] if body.startswith('!') else body}]")
            i = end + 1
        else:
            parts.append(re.escape(glob[i]))
            i += 1
    return "".join(parts)


@lru_cache(maxsize=1024)
def _compile(glob: str, below: bool) -> re.Pattern[str]:
    return re.compile(f"(?:.*/)?{_translate(glob)}{'(?:/.*)?' if below else ''}", re.DOTALL)


def _normalise(path: str) -> str:
    return path.replace("\\", "/").removeprefix("./")


def glob_matches(glob: str, path: str) -> bool:
    """Whether ``glob`` matches ``path`` or a suffix of it starting at a directory."""
    return _compile(glob, False).fullmatch(_normalise(path)) is not None


def glob_covers(glob: str, path: str) -> bool:
    """Like :func:`glob_matches`, and a glob naming a directory covers all below it."""
    return _compile(glob, True).fullmatch(_normalise(path)) is not None


def covered_by_any(globs: Iterable[str], path: str) -> bool:
    return any(glob_covers(glob, path) for glob in globs)
