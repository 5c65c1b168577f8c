"""Path globs of the rule settings (``allow_in``, ``path``, ``not_implemented.paths``).

``**`` matches any number of directories (also none), ``*`` and ``?`` stay inside one
directory, ``[...]`` is a character class. A glob matches a path when it matches the whole
``/``-separated path or any suffix of it that starts after a ``/``, so the same
configuration works whether paths are relative to the project or to a directory above it.
"""

from __future__ import annotations

import functools
import re


@functools.lru_cache(maxsize=1024)
def _compile(glob: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    glob = glob.replace("\\", "/").removeprefix("./")
    while i < len(glob):
        char = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[" and "]" in glob[i + 1 :]:
            end = glob.index("]", i + 1)
            body = glob[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append(f"[{body}]")
            i = end + 1
        else:
            out.append(re.escape(char))
            i += 1
    return re.compile("".join(out) + r"\Z")


def glob_matches(glob: str, path: str) -> bool:
    """Whether ``glob`` matches ``path`` or a suffix of it starting at a directory."""
    pattern = _compile(glob)
    path = path.replace("\\", "/").removeprefix("./")
    if pattern.match(path):
        return True
    start = path.find("/")
    while start != -1:
        if pattern.match(path, start + 1):
            return True
        start = path.find("/", start + 1)
    return False
