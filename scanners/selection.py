"""Which rule codes are on: ``select``, ``ignore`` and ``per_file_ignores``.

Entries are code prefixes (``"GG"``, ``"GG00"``, ``"GG001"``). As in ruff, the longest
matching prefix decides, and ``ignore`` wins a tie, so ``select = ["GG"]`` with
``ignore = ["GG00"]`` and ``select = ["GG001"]`` keeps GG001 on. ``per_file_ignores`` (a glob
against the path relative to the project root -> prefixes) switches codes off for matching
files whatever ``select`` says.

GG000 (a file that cannot be read or parsed) is selected like any other code: it is in the
default selection, and ``--select GG001`` leaves it out, so that such a run parses only the
files GG001 needs and reports nothing but GG001.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from scanners.globs import glob_covers


class Selector:
    def __init__(
        self,
        select: Sequence[str],
        ignore: Sequence[str],
        per_file_ignores: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.select = tuple(select)
        self.ignore = tuple(ignore)
        self.per_file_ignores = dict(per_file_ignores or {})
        self._memo: dict[str, bool] = {}

    def enabled(self, code: str) -> bool:
        """Whether ``code`` is on, before per-file ignores."""
        known = self._memo.get(code)
        if known is None:
            known = self._memo[code] = self._decide(code)
        return known

    def _decide(self, code: str) -> bool:
        ignored = max((len(p) for p in self.ignore if code.startswith(p)), default=-1)
        selected = max((len(p) for p in self.select if code.startswith(p)), default=-1)
        return selected > ignored

    def for_path(self, relative: str) -> Callable[[str], bool]:
        """The ``selected(code)`` predicate for one file (``relative`` to the project root)."""
        off = tuple(
            prefix
            for pattern, prefixes in self.per_file_ignores.items()
            if glob_covers(pattern, relative)
            for prefix in prefixes
        )
        if not off:
            return self.enabled

        def selected(code: str) -> bool:
            return self.enabled(code) and not code.startswith(off)

        return selected
