"""GG007 required-finally."""

from __future__ import annotations

import libcst as cst

from pytest_gridgate.settings import RequiredFinally as RequiredFinallySetting
from pytest_gridgate.settings import ScanSettings
from scanners.globs import glob_matches
from scanners.rules.names import dotted_name
from scanners.rules.rule import Context, Example, Rule


class _FinallyCalls(cst.CSTVisitor):
    """Dotted names called in the ``finally`` blocks of one function (not nested ones)."""

    def __init__(self) -> None:
        super().__init__()
        self.called: set[str] = set()
        self.depth = 0

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_Finally(self, node: cst.Finally) -> None:
        self.depth += 1

    def leave_Finally(self, original_node: cst.Finally) -> None:
        self.depth -= 1

    def visit_Call(self, node: cst.Call) -> None:
        if self.depth:
            name = dotted_name(node.func)
            if name is not None:
                self.called.add(name)


class RequiredFinally(Rule):
    """Flags a configured function that lacks a ``try``/``finally`` calling the configured
    function (``[[tool.gridgate.scan.required_finally]]``).

    **Why it is bad.** Some bookkeeping must happen however the work ends: metrics of a
    tool run, a lock release, a temporary directory. Without ``finally`` an exception or a
    timeout (``pytest-timeout`` raises inside the test) skips it, and the next run sees
    stale metrics or a held lock.

    ``function`` names a function by its qualified name in the file: ``ToolRunner.run`` is
    the method ``run`` of class ``ToolRunner`` (a module-level function is just ``run``);
    ``path`` is a glob that limits the files. The function passes when its body (not a
    nested function's) has a ``try`` whose ``finally`` block calls ``call``, matched on the
    dotted name as written or its last part: ``update_execution_metrics`` matches
    ``self.update_execution_metrics(...)`` and ``metrics.update_execution_metrics(...)``.

    **Example.**

    ```toml
    [[tool.gridgate.scan.required_finally]]
    function = "ToolRunner.run"
    path = "**/tool_runner.py"
    call = "update_execution_metrics"
    ```

    ```python
    class ToolRunner:
        def run(self, job):
            result = self.plugin.run(job)
            self.update_execution_metrics(job)
            return result
    ```

    **Fix.** ``try: return self.plugin.run(job)`` /
    ``finally: self.update_execution_metrics(job)``.
    """

    code = "GG007"
    name = "required-finally"
    node_types = (cst.FunctionDef,)
    EXAMPLE_SETTINGS = ScanSettings(
        required_finally=(
            RequiredFinallySetting(
                function="ToolRunner.run", path="**/tool_runner.py", call="update_execution_metrics"
            ),
        )
    )
    VALID = (
        Example(
            "class ToolRunner:\n    def run(self, job):\n        try:\n"
            "            return self.plugin.run(job)\n        finally:\n"
            "            self.update_execution_metrics(job)\n",
            "app/tool_runner.py",
        ),
        Example(
            "class ToolRunner:\n    async def run(self, job):\n        try:\n"
            "            return await self.plugin.run(job)\n        except Exception:\n"
            "            raise\n        finally:\n            update_execution_metrics()\n",
            "app/tool_runner.py",
        ),
        Example(
            "class Other:\n    def run(self, job):\n        return job()\n",
            "app/tool_runner.py",
        ),
        Example(
            "class ToolRunner:\n    def run(self, job):\n        return job()\n",
            "app/elsewhere.py",
        ),
    )
    INVALID = (
        Example(
            "class ToolRunner:\n    def run(self, job):\n        result = self.plugin.run(job)\n"
            "        self.update_execution_metrics(job)\n        return result\n",
            "app/tool_runner.py",
            at=((2, 9),),
        ),
        Example(
            "class ToolRunner:\n    def run(self, job):\n        try:\n"
            "            return job()\n        finally:\n            self.log()\n"
            "        # update_execution_metrics() in a comment does not count\n",
            "app/tool_runner.py",
            at=((2, 9),),
        ),
        Example(
            "class ToolRunner:\n    def run(self, job):\n        def inner():\n"
            "            try:\n                job()\n            finally:\n"
            "                self.update_execution_metrics()\n        inner()\n",
            "app/tool_runner.py",
            at=((2, 9),),
        ),
    )

    def __init__(self, settings: ScanSettings, path: str) -> None:
        super().__init__(settings, path)
        self.entries = [e for e in settings.required_finally if glob_matches(e.path, path)]
        self.definitions = sorted({e.function.rpartition(".")[2] for e in self.entries})

    def applies(self) -> bool:
        return bool(self.entries)

    def visit(self, node: cst.CSTNode, ctx: Context) -> None:
        assert isinstance(node, cst.FunctionDef)
        qualname = ".".join([*ctx.class_names, node.name.value])
        for entry in self.entries:
            if qualname != entry.function and not qualname.endswith("." + entry.function):
                continue
            finder = _FinallyCalls()
            node.body.visit(finder)
            call = entry.call
            if not any(name == call or name.endswith("." + call) for name in finder.called):
                ctx.report(
                    self,
                    node,
                    f"{entry.function}() must call {call}() in a `finally:` block",
                    source=f"def {qualname}",
                )
