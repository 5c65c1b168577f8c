"""GG010 eager-import."""

from __future__ import annotations

import libcst as cst

from pytest_gridgate.settings import ScanSettings
from scanners.rules.declaration import module_among
from scanners.rules.names import imported_modules, module_name_for
from scanners.rules.rule import Context, Example, Rule


class EagerImport(Rule):
    """Flags a module-level import of a module listed in ``lazy_imports`` (or of one of its
    submodules) that is not under ``if TYPE_CHECKING:``.

    **Why it is bad.** Heavy or side-effectful dependencies (vector stores, ML frameworks,
    database drivers) imported at module level are paid by every process that imports the
    package: the CLI's ``--help``, every pytest collection, every worker. Some start
    threads or open files on import, which the leak checks then report in unrelated tests.

    Module level means anything executed on import: the module body, also inside ``if``,
    ``try``/``except ImportError`` and class bodies. Imports inside functions are what the
    rule asks for. ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``) blocks are exempt;
    their ``else:`` is not. ``from . import x`` is resolved against the file's package.

    **Example.**

    ```python
    import chromadb

    def make_store(path):
        return chromadb.PersistentClient(path)
    ```

    **Fix.** Import inside the function that needs it; for annotations, import under
    ``if TYPE_CHECKING:`` and quote the annotation (or use ``from __future__ import
    annotations``).
    """

    code = "GG010"
    name = "eager-import"
    node_types = (cst.Import, cst.ImportFrom)
    EXAMPLE_SETTINGS = ScanSettings(lazy_imports=("chromadb", "torch", "app.heavy"))
    VALID = (
        "def make_store(path):\n    import chromadb\n    return chromadb.PersistentClient(path)\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import chromadb\n",
        "import typing\nif typing.TYPE_CHECKING:\n    from chromadb.api import Client\n",
        "import chromadbx\nimport json\n# import chromadb\nTEXT = 'import chromadb'\n",
        # The lazy package's own modules import each other freely.
        Example("from . import api\nimport chromadb.config\n", "chromadb/__init__.py"),
    )
    INVALID = (
        Example("import chromadb\n", at=((1, 1),)),
        Example("import chromadb.api as api\n", at=((1, 1),)),
        Example("from chromadb.api import Client\n", at=((1, 1),)),
        Example("try:\n    import torch\nexcept ImportError:\n    torch = None\n", at=((2, 5),)),
        Example(
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    pass\n"
            "else:\n    import torch\n",
            at=((5, 5),),
        ),
        Example("class Model:\n    import torch\n", at=((2, 5),)),
        Example("from . import heavy\n", "app/service.py", at=((1, 1),)),
        Example("from ..heavy import Model\n", "app/api/views.py", at=((1, 1),)),
    )

    def __init__(self, settings: ScanSettings, path: str) -> None:
        super().__init__(settings, path)
        self.imports = tuple(settings.lazy_imports)

    def applies(self) -> bool:
        # The lazy package's own modules import each other freely.
        own = module_among(module_name_for(self.path)[0], self.imports)
        return bool(self.imports) and own is None

    def visit(self, node: cst.CSTNode, ctx: Context) -> None:
        assert isinstance(node, (cst.Import, cst.ImportFrom))
        if not ctx.at_module_level or ctx.in_type_checking:
            return
        for name in imported_modules(node, ctx.scopes.package):
            module = module_among(name, self.imports)
            if module is not None:
                ctx.report(
                    self,
                    node,
                    f"module-level import of {module}: import it where it is used "
                    "(or under `if TYPE_CHECKING:`)",
                )
                return
