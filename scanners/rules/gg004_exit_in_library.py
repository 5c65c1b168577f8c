"""GG004 exit-in-library."""

from __future__ import annotations

import os
import re

import libcst as cst

from pytest_gridgate.settings import ScanSettings
from scanners.globs import covered_by_any
from scanners.rules.rule import Context, Example, Rule

EXITS = {
    "sys.exit": "sys.exit()",
    "builtins.exit": "exit()",
    "builtins.quit": "quit()",
    "os._exit": "os._exit()",
    "posix._exit": "os._exit()",
}

# pytest imports these whatever their directory holds: never scripts.
TEST_MODULE = re.compile(r"(?:^|/)(?:test_[^/]*|[^/]*_test|conftest)\.py$")


def in_package(path: str) -> bool:
    """Whether the file is importable as part of a package: ``__init__.py`` beside it."""
    return os.path.isfile(os.path.join(os.path.dirname(path), "__init__.py"))


def script_kind(path: str, settings: ScanSettings) -> str | None:
    """``"configured"`` for a file under ``scan.scripts``, ``"standalone"`` for any other
    file outside a package (a script if it has a main guard), None for package code and
    test modules. Package code is never a script: library code that exits is the point of
    the rule, and ``per_file_ignores`` is there for a package's command-line module."""
    path = path.replace("\\", "/")
    if in_package(path) or TEST_MODULE.search(path):
        return None
    if covered_by_any(settings.scripts, path):
        return "configured"
    return "standalone"


class ExitInLibrary(Rule):
    """Flags ``sys.exit()``, ``exit()``, ``quit()`` and ``os._exit()`` outside the entry point.

    **Why it is bad.** Library code that exits takes the whole process with it: at import
    time it aborts pytest's collection (a module that calls ``sys.exit()`` on import makes
    the test run stop, or look green with fewer tests), and ``os._exit()`` skips every
    ``finally``, ``atexit`` handler and buffered write. ``exit``/``quit`` are meant for the
    interactive prompt and do not even exist under ``python -S``.

    Allowed in ``__main__.py`` and under ``if __name__ == "__main__":``, and in scripts,
    where exiting is how a script ends:

    - a file outside any package (no ``__init__.py`` beside it) that has an
      ``if __name__ == "__main__":`` block: exits inside its functions are fine, an exit at
      module level outside the guard still runs on import and is flagged;
    - any file outside a package under a ``scan.scripts`` directory (default ``scripts``,
      ``tools``, ``bin``; globs like ``exclude``): nothing in it is flagged.

    Package code is never a script, and neither is a test module (``test_*.py``,
    ``*_test.py``, ``conftest.py``: pytest imports it). Everywhere else every exit counts,
    also in a ``main()`` function that the guard calls: let it return the exit code and exit
    in the guard. Names are resolved through imports (``from sys import exit as bye``); a
    local function called ``exit`` is not flagged.

    **Example.**

    ```python
    import sys

    def load(path):
        if not path.exists():
            sys.exit(f"missing {path}")
    ```

    **Fix.** Raise an exception (``raise ConfigError(...)``) and let the entry point decide:
    ``if __name__ == "__main__": sys.exit(main())``.
    """

    code = "GG004"
    name = "exit-in-library"
    node_types = (cst.Call,)
    calls = EXITS
    outside_main_guard = True
    VALID = (
        "import sys\ndef main():\n    return 0\nif __name__ == '__main__':\n    sys.exit(main())\n",
        Example("import sys\nsys.exit(main())\n", "pkg/__main__.py"),
        "def exit(code):\n    return code\nexit(1)\n",
        "import sys\n# sys.exit(1)\nMESSAGE = 'call sys.exit(1) to stop'\n",
        "import sys\nsys.exit = lambda code: None\n",
        "class Proc:\n    def exit(self):\n        pass\nProc().exit()\n",
        Example(
            "import sys\ndef run(cmd):\n    sys.exit(call(cmd))\nif __name__ == '__main__':\n"
            "    run(sys.argv[1:])\n",
            "downstream/run_downstream.py",
        ),
        Example("import sys\nif len(sys.argv) < 2:\n    sys.exit('usage: x FILE')\n", "tools/x.py"),
    )
    INVALID = (
        Example("import sys\ndef load(path):\n    sys.exit(f'missing {path}')\n", at=((3, 5),)),
        Example("import sys\nsys.exit(1)\n", at=((2, 1),)),
        Example("from sys import exit as bye\nbye(2)\n", at=((2, 1),)),
        Example("import os\ndef crash():\n    os._exit(1)\n", at=((3, 5),)),
        Example("def stop():\n    quit()\n", at=((2, 5),)),
        Example("exit()\n", at=((1, 1),)),
        Example(
            "import sys\nif not sys.argv[1:]:\n    sys.exit(2)\ndef main():\n    return 0\n"
            "if __name__ == '__main__':\n    sys.exit(main())\n",
            "downstream/run_downstream.py",
            at=((3, 5),),
        ),
        Example(
            "import sys\ndef run(cmd):\n    sys.exit(call(cmd))\nif __name__ == '__main__':\n"
            "    run(sys.argv[1:])\n",
            "tests/test_cli.py",
            at=((3, 5),),
        ),
    )

    def __init__(self, settings: ScanSettings, path: str) -> None:
        super().__init__(settings, path)
        self.script = script_kind(path, settings)

    def applies(self) -> bool:
        if self.path.replace("\\", "/").rpartition("/")[2] == "__main__.py":
            return False
        return self.script != "configured"

    def visit(self, node: cst.CSTNode, ctx: Context) -> None:
        assert isinstance(node, cst.Call)
        what = EXITS.get(ctx.qualified_name(node.func) or "")
        if what is None or ctx.in_main_guard or ctx.is_main_module:
            return
        if not ctx.at_module_level and self._is_script(ctx):
            return
        where = "at module level" if ctx.at_module_level else "in library code"
        ctx.report(
            self,
            node,
            f'{what} {where}: raise an exception and exit only under `if __name__ == "__main__":`',
        )

    def _is_script(self, ctx: Context) -> bool:
        """A standalone file with a main guard (see :func:`script_kind`)."""
        return self.script == "standalone" and ctx.module_has_main_guard
