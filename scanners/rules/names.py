"""What names mean, for an ``ast`` node and a libcst node alike: the dotted name of a callee,
what it stands for once its head is bound by an import (:func:`qualify`), what an import
statement binds and imports, which module a file is, the main-guard and ``TYPE_CHECKING``
tests. The ``ast`` tier and the libcst tier both read names through these functions, so the
cheap tier cannot read a name differently from the precise one. Scopes (which binding a name
sees where) are libcst-only: :mod:`scanners.rules.scopes`.
"""

from __future__ import annotations

import ast
import builtins
import functools
import os
from collections.abc import Iterable, Iterator

import libcst as cst

BUILTIN_NAMES = frozenset(dir(builtins))


@functools.lru_cache(maxsize=4096)
def _package_dir_parts(directory: str) -> tuple[str, ...]:
    """The package that ``directory`` is, as dotted parts, found by walking up ``__init__.py``."""
    parts: list[str] = []
    current = os.path.abspath(directory)
    while os.path.isfile(os.path.join(current, "__init__.py")):
        parent, name = os.path.split(current)
        if not name or not name.isidentifier():
            break
        parts.append(name)
        if parent == current:
            break
        current = parent
    return tuple(reversed(parts))


@functools.lru_cache(maxsize=256)
def module_name_for(path: str) -> tuple[str, str]:
    """``(module, package)`` dotted names of the file at ``path``.

    On disk, the package is found by walking up directories that hold ``__init__.py``
    (``asyncio/tasks.py`` -> ``asyncio.tasks``). For a path that does not exist (rule
    examples, editors' unsaved buffers) every directory component counts as a package.
    """
    posix = path.replace("\\", "/")
    directory, _, filename = posix.rpartition("/")
    stem = filename[:-3] if filename.endswith(".py") else filename
    if os.path.exists(path):
        package_parts = list(_package_dir_parts(directory or "."))
    else:
        package_parts = [p for p in directory.split("/") if p and p not in (".", "..")]
        if not all(p.isidentifier() for p in package_parts):
            package_parts = []
    package = ".".join(package_parts)
    if stem == "__init__":
        return package, package
    module = f"{package}.{stem}" if package else stem
    return module, package


def resolve_relative(package: str, level: int, module: str | None) -> str | None:
    """Absolute name of ``from {'.' * level}{module} import ...`` inside ``package``."""
    if level == 0:
        return module
    if not package:
        return None  # a relative import outside a known package: cannot tell what it is
    parts = package.split(".")
    if level - 1 > len(parts) or (level - 1 == len(parts) and not module):
        return None
    base = parts[: len(parts) - (level - 1)]
    if module:
        base.append(module)
    return ".".join(base) or None


def dotted_name(node: cst.BaseExpression | ast.expr) -> str | None:
    """``a.b.c`` for a chain of attributes over a name, else None; for a libcst node and
    for an ``ast`` node alike, so that both tiers read a callee the same way."""
    parts: list[str] = []
    while True:
        node_type = type(node)
        if node_type is ast.Attribute:
            parts.append(node.attr)  # type: ignore[union-attr]
            node = node.value  # type: ignore[union-attr]
        elif node_type is cst.Attribute:
            parts.append(node.attr.value)  # type: ignore[union-attr]
            node = node.value  # type: ignore[union-attr]
        elif node_type is ast.Name:
            parts.append(node.id)  # type: ignore[union-attr]
            break
        elif node_type is cst.Name:
            parts.append(node.value)  # type: ignore[union-attr]
            break
        else:
            return None
    return ".".join(reversed(parts))


def qualify(written: str, target: str | None) -> str | None:
    """What the dotted name ``written`` stands for when its head is bound by an import of
    ``target`` (``aio.sleep`` with ``aio`` -> ``asyncio``: ``asyncio.sleep``), or, with no
    import (None), as a builtin (``builtins.exit``) when there is a builtin of that name.

    Both tiers resolve through this: the precise one with the import that binds the head
    in scope, the ``ast`` one with every import that binds it anywhere in the file.
    """
    head, dot, rest = written.partition(".")
    if target is None:
        return f"builtins.{written}" if head in BUILTIN_NAMES else None
    return f"{target}.{rest}" if dot else target


def import_bindings(
    aliases: Iterable[tuple[str, str | None]],
) -> Iterator[tuple[str, str]]:
    """``(bound name, imported target)`` of ``import a.b``, ``import a.b as c``: the first
    binds ``a`` to ``a``, the second ``c`` to ``a.b``."""
    for name, asname in aliases:
        if asname:
            yield asname, name
        else:
            head = name.partition(".")[0]
            yield head, head


def from_import_bindings(
    package: str, level: int, module: str | None, aliases: Iterable[tuple[str, str | None]]
) -> Iterator[tuple[str, str | None]]:
    """``(bound name, qualified target)`` of ``from {'.' * level}{module} import ...``; the
    target is None for a relative import that cannot be resolved (a local name then)."""
    base = resolve_relative(package, level, module)
    for name, asname in aliases:
        yield asname or name, None if base is None else f"{base}.{name}"


def imported_modules(
    node: cst.Import | cst.ImportFrom | ast.Import | ast.ImportFrom, package: str
) -> list[str]:
    """The qualified names an import statement imports: ``import a.b`` -> ``a.b``;
    ``from .m import x`` (in package ``p``) -> ``p.m`` and ``p.m.x`` (``x`` may be a
    module). Either tree; an unresolvable relative import gives nothing."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, cst.Import):
        return [name for alias in node.names if (name := dotted_name(alias.name))]
    if isinstance(node, ast.ImportFrom):
        level, module = node.level, node.module
        names = [alias.name for alias in node.names if alias.name != "*"]
    else:
        level = len(node.relative)
        module = dotted_name(node.module) if node.module is not None else None
        names = []
        if not isinstance(node.names, cst.ImportStar):
            names = [alias.name.value for alias in node.names if isinstance(alias.name, cst.Name)]
    base = resolve_relative(package, level, module)
    return [] if base is None else [base, *(f"{base}.{name}" for name in names)]


def is_main_guard(test: cst.BaseExpression | ast.expr) -> bool:
    """``__name__ == "__main__"`` (either side, any quotes), in either tree."""
    if isinstance(test, ast.Compare):
        if len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
            return False
        sides: tuple[object, object] = (test.left, test.comparators[0])
    elif isinstance(test, cst.Comparison):
        if len(test.comparisons) != 1 or not isinstance(test.comparisons[0].operator, cst.Equal):
            return False
        sides = (test.left, test.comparisons[0].comparator)
    else:
        return False
    names = [s for s in sides if _identifier(s) == "__name__"]
    strings = [s for s in sides if _string(s) == "__main__"]
    return len(names) == 1 and len(strings) == 1


def _identifier(node: object) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    return node.value if isinstance(node, cst.Name) else None


def _string(node: object) -> object:
    if isinstance(node, ast.Constant):
        return node.value
    return node.evaluated_value if isinstance(node, cst.SimpleString) else None


def is_type_checking(test: cst.BaseExpression) -> bool:
    """``TYPE_CHECKING`` or ``<anything>.TYPE_CHECKING`` (``typing.TYPE_CHECKING``)."""
    if isinstance(test, cst.Name):
        return test.value == "TYPE_CHECKING"
    return isinstance(test, cst.Attribute) and test.attr.value == "TYPE_CHECKING"


def raised_class(node: cst.Raise | ast.Raise) -> cst.BaseExpression | ast.expr | None:
    """What a ``raise`` raises, as written: ``E`` for ``raise E`` and ``raise E(...)``."""
    exc = node.exc
    if isinstance(exc, (ast.Call, cst.Call)):
        return exc.func
    return exc


def is_word_byte(byte: int) -> bool:
    return byte == 95 or 48 <= byte <= 57 or 65 <= byte <= 90 or 97 <= byte <= 122 or byte > 127


def whole_word_offsets(source: bytes, word: bytes) -> Iterator[int]:
    """Where ``word`` occurs as a whole name, not as part of a longer one (``exit`` in
    ``__exit__``). ``find`` is several times faster than a regex with ``\\b``."""
    size = len(word)
    at = source.find(word)
    while at != -1:
        end = at + size
        if (at == 0 or not is_word_byte(source[at - 1])) and (
            end == len(source) or not is_word_byte(source[end])
        ):
            yield at
        at = source.find(word, at + 1)
