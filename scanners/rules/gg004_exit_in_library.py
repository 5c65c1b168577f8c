"""GG004 exit-in-library."""

from __future__ import annotations

import re

import libcst as cst

from scanners.rules.analysis import Context
from scanners.rules.prefilter import AstFacts
from scanners.rules.rule import Example, Rule

EXITS = {
    "sys.exit": "sys.exit()",
    "builtins.exit": "exit()",
    "builtins.quit": "quit()",
    "os._exit": "os._exit()",
    "posix._exit": "os._exit()",
}


# Tier 1: a finding needs this in the file's bytes.
TOKENS = re.compile(rb"exit|quit")  # also _exit


class ExitInLibrary(Rule):
    """Flags ``sys.exit()``, ``exit()``, ``quit()`` and ``os._exit()`` outside the entry point.

    **Why it is bad.** Library code that exits takes the whole process with it: at import
    time it aborts pytest's collection (a module that calls ``sys.exit()`` on import makes
    the test run stop, or look green with fewer tests), and ``os._exit()`` skips every
    ``finally``, ``atexit`` handler and buffered write. ``exit``/``quit`` are meant for the
    interactive prompt and do not even exist under ``python -S``.

    Allowed in ``__main__.py`` and under ``if __name__ == "__main__":``. Everything else
    counts, also a ``main()`` function that the guard calls: let it return the exit code
    and exit in the guard. Names are resolved through imports
    (``from sys import exit as bye``); a local function called ``exit`` is not flagged.

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
    VALID = (
        "import sys\ndef main():\n    return 0\nif __name__ == '__main__':\n    sys.exit(main())\n",
        Example("import sys\nsys.exit(main())\n", "pkg/__main__.py"),
        "def exit(code):\n    return code\nexit(1)\n",
        "import sys\n# sys.exit(1)\nMESSAGE = 'call sys.exit(1) to stop'\n",
        "import sys\nsys.exit = lambda code: None\n",
        "class Proc:\n    def exit(self):\n        pass\nProc().exit()\n",
    )
    INVALID = (
        "import sys\ndef load(path):\n    sys.exit(f'missing {path}')\n",
        "import sys\nsys.exit(1)\n",
        "from sys import exit as bye\nbye(2)\n",
        "import os\ndef crash():\n    os._exit(1)\n",
        "def stop():\n    quit()\n",
        "exit()\n",
    )

    def tokens(self) -> re.Pattern[bytes]:
        return TOKENS

    def applies(self) -> bool:
        return self.path.replace("\\", "/").rpartition("/")[2] != "__main__.py"

    def candidate_lines(self, facts: AstFacts) -> set[int]:
        return facts.call_lines(EXITS, outside_main=True)

    def visit(self, node: cst.CSTNode, ctx: Context) -> None:
        assert isinstance(node, cst.Call)
        what = EXITS.get(ctx.qualified_name(node.func) or "")
        if what is None or ctx.in_main_guard or ctx.is_main_module:
            return
        where = "at module level" if ctx.at_module_level else "in library code"
        ctx.report(
            self,
            node,
            f'{what} {where}: raise an exception and exit only under `if __name__ == "__main__":`',
        )
