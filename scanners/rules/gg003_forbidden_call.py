"""GG003 forbidden-call."""

from __future__ import annotations

import fnmatch
import re

import libcst as cst

from pytest_gridgate.settings import ForbiddenCall as ForbiddenCallSetting
from pytest_gridgate.settings import ScanSettings
from scanners.globs import glob_matches
from scanners.rules.rule import Context, Example, Rule

_WILDCARD = re.compile(r"[*?\[]")


class ForbiddenCall(Rule):
    """Flags calls configured in ``[[tool.gridgate.scan.forbidden_calls]]`` outside their
    ``allow_in`` paths.

    **Why it is bad.** Project-specific: some calls must only happen in one place (plugins
    run only through the runner that records metrics and enforces timeouts; ``os.kill``
    only in the process supervisor). The configured ``message`` says why.

    **How calls are matched.** ``call`` is an ``fnmatch`` pattern over a dotted name
    (``plugin.run``, ``os.kill``, ``requests.*``). When the callee's first name comes from
    an import, the pattern is matched against the *resolved* name only
    (``from os import kill as k; k()`` is ``os.kill``). Otherwise (a local variable, a
    parameter, an attribute of ``self``) it is matched against the name as written and
    against each of its dotted suffixes, so ``plugin.run`` matches ``plugin.run()`` and
    ``self.plugin.run()`` but not ``plugin.runner()``. A callee that is not a dotted name
    (``plugins[0].run()``, ``get_plugin().run()``) is not matched. ``allow_in`` takes
    path globs (``**`` for any directories); an ``allow_in`` glob that matches no scanned
    file is reported by the engine as stale.

    **Example.**

    ```toml
    [[tool.gridgate.scan.forbidden_calls]]
    call = "plugin.run"
    allow_in = ["**/tool_runner.py"]
    message = "plugins run only through ToolRunner"
    ```

    ```python
    for plugin in plugins:
        plugin.run(job)
    ```

    **Fix.** Call the sanctioned wrapper (``ToolRunner(plugin).run(job)``), or add the
    file to ``allow_in`` if it is the sanctioned place.
    """

    code = "GG003"
    name = "forbidden-call"
    node_types = (cst.Call,)
    EXAMPLE_SETTINGS = ScanSettings(
        forbidden_calls=(
            ForbiddenCallSetting(
                call="plugin.run",
                allow_in=("**/tool_runner.py",),
                message="plugins run only through ToolRunner",
            ),
            ForbiddenCallSetting(call="os.kill"),
        )
    )
    VALID = (
        Example("def run(plugin):\n    plugin.run()\n", "src/app/tool_runner.py"),
        "def run(plugin):\n    plugin.runner()\n",
        "# plugin.run()\nTEXT = 'plugin.run()'\n",
        "import signal\nsignal.kill(1)\n",
        "def kill(pid):\n    pass\nkill(1)\n",
        # Imported names match on the resolved name only: this is app.plugin.run.
        "from app import plugin\nplugin.run()\n",
        "plugins[0].run()\n",
    )
    INVALID = (
        Example(
            "def run_all(plugins):\n    for plugin in plugins:\n        plugin.run()\n",
            at=((3, 9),),
        ),
        Example(
            "class Job:\n    def go(self):\n        self.plugin.run(timeout=3)\n", at=((3, 9),)
        ),
        Example("import os as o\no.kill(1, 9)\n", at=((2, 1),)),
        Example("from os import kill as k\nk(1, 9)\n", at=((2, 1),)),
        Example("def run(plugin):\n    plugin.run()\n", "src/app/runner.py", at=((2, 5),)),
    )

    def __init__(self, settings: ScanSettings, path: str) -> None:
        super().__init__(settings, path)
        self.active = [
            entry
            for entry in settings.forbidden_calls
            if not any(glob_matches(glob, path) for glob in entry.allow_in)
        ]

        # A wildcard in the last name could be any call.
        last_names = [entry.call.rpartition(".")[2] for entry in self.active]
        wildcard = any(_WILDCARD.search(name) for name in last_names)
        self.called_names = None if wildcard else last_names

    def applies(self) -> bool:
        return bool(self.active)

    def visit(self, node: cst.CSTNode, ctx: Context) -> None:
        assert isinstance(node, cst.Call)
        written = ctx.written_name(node.func)
        if written is None:
            return
        if ctx.is_imported(node.func):
            resolved = ctx.qualified_name(node.func)
            names = [resolved] if resolved else []
        else:
            parts = written.split(".")
            names = [".".join(parts[i:]) for i in range(len(parts))]
        for entry in self.active:
            if any(fnmatch.fnmatchcase(name, entry.call) for name in names):
                message = entry.message or "forbidden here"
                ctx.report(self, node, f"{entry.call}(): {message}")
                return
