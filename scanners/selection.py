"""Which rule codes are on: ``select``, ``ignore`` and ``per_file_ignores``.

Entries are code prefixes (``"GG"``, ``"GG00"``, ``"GG001"``). As in ruff, the longest
matching prefix decides, and ``ignore`` wins a tie, so ``select = ["GG"]`` with
``ignore = ["GG00"]`` and ``select = ["GG001"]`` keeps GG001 on. ``per_file_ignores`` (a glob
against the path relative to the project root -> prefixes) switches codes off for matching
files whatever ``select`` says.

Every entry must be a known code or the prefix of one (:func:`check_codes`), and something
must remain selected: a typo that selects nothing would otherwise pass every file.

GG000 (a file that cannot be read or parsed) is selected like any other code: it is in the
default selection, and ``--select GG001`` leaves it out, so that such a run parses only the
files GG001 needs and reports nothing but GG001.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

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

    def enabled_codes(self, known: Iterable[str]) -> list[str]:
        """The codes of ``known`` that are on (before per-file ignores), sorted."""
        return sorted(code for code in known if self.enabled(code))

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


class UnknownCode(Exception):
    """A code in ``select``/``ignore``/``per_file_ignores`` that no rule has (exit 2)."""


def _suggestion(code: str, known: Collection[str]) -> str:
    families = {known_code[:2] for known_code in known}
    candidates = sorted({*known, *families})
    close = difflib.get_close_matches(code.upper(), candidates, n=1, cutoff=0.5)
    return f"; did you mean {close[0]}?" if close else ""


def check_codes(where: str, codes: Iterable[str], known: Collection[str]) -> None:
    """Every entry of ``codes`` must be a known code or the prefix of one.

    A typo must not select nothing and pass: ``--select GG0001`` is exit 2, not "All checks
    passed". ``where`` names the option or key in the message.
    """
    for code in codes:
        if not code or not any(known_code.startswith(code) for known_code in known):
            raise UnknownCode(
                f"{where}: unknown rule code {code!r}{_suggestion(code, known)} "
                f"(known: {_families(known)})"
            )


def _families(known: Collection[str]) -> str:
    """``GG000-GG012, GW001-GW006``: the known codes in short."""
    by_family: dict[str, list[str]] = {}
    for code in sorted(known):
        by_family.setdefault(code.rstrip("0123456789"), []).append(code)
    return ", ".join(
        codes[0] if len(codes) == 1 else f"{codes[0]}-{codes[-1]}" for codes in by_family.values()
    )
