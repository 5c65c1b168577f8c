"""GG001 get-event-loop."""

from __future__ import annotations

import libcst as cst

from scanners.rules.rule import Context, Example, Rule

GET_EVENT_LOOP = frozenset({"asyncio.get_event_loop", "asyncio.events.get_event_loop"})
GET_RUNNING_LOOP = frozenset({"asyncio.get_running_loop", "asyncio.events.get_running_loop"})


class GetEventLoop(Rule):
    """Flags calls of ``asyncio.get_event_loop()``, however it was imported.

    **Why it is bad.** Outside a running loop, ``get_event_loop()`` is deprecated (3.10-3.13)
    and, depending on the Python version and the event loop policy, either creates a new
    loop that nothing closes or raises. Code that "works" in one test run hangs or warns in
    the next. Inside a coroutine the running loop is what is meant, and
    ``asyncio.get_running_loop()`` says so and never creates one.

    The callee is resolved through imports: ``import asyncio as aio``,
    ``from asyncio import get_event_loop as gel``, ``from asyncio import events``
    (``events.get_event_loop``) and relative imports inside the ``asyncio`` package all
    count; methods of other objects (``policy.get_event_loop()``), references that are not
    called, strings and comments do not.

    **Example.**

    ```python
    async def main():
        loop = asyncio.get_event_loop()
    ```

    **Fix.** Inside ``async def``: ``asyncio.get_running_loop()``; ``gridgate scan --fix``
    rewrites it, keeping the way ``asyncio`` was referenced (``aio.get_running_loop()``).
    The fix applies to attribute calls (``aio.get_event_loop()``) and to bare names when
    ``get_running_loop`` is already imported from ``asyncio``. Outside ``async def``
    (no loop is running) create and own a loop with ``asyncio.run()`` or
    ``asyncio.new_event_loop()``; that is not fixable automatically.
    """

    code = "GG001"
    name = "get-event-loop"
    fixable = True
    node_types = (cst.Call,)
    calls = GET_EVENT_LOOP
    VALID = (
        "import asyncio\nasync def main():\n    loop = asyncio.get_running_loop()\n",
        "import asyncio\npolicy = asyncio.get_event_loop_policy()\n"
        "loop = policy.get_event_loop()\n",
        "import asyncio\nasyncio.get_event_loop = lambda: None\n",
        "import asyncio\nfactory = asyncio.get_event_loop  # a reference, not a call\n",
        "# asyncio.get_event_loop()\ntext = 'asyncio.get_event_loop()'\n",
        "def get_event_loop():\n    return None\nget_event_loop()\n",
        "import asyncio\ndef f(asyncio):\n    asyncio.get_event_loop()  # a parameter\n",
        "from trio import get_event_loop\nget_event_loop()\n",
    )
    INVALID = (
        Example(
            "import asyncio\nasync def main():\n    loop = asyncio.get_event_loop()\n",
            at=((3, 12),),
            fixed="import asyncio\nasync def main():\n    loop = asyncio.get_running_loop()\n",
        ),
        Example("import asyncio as aio\nloop = aio.get_event_loop()\n", at=((2, 8),)),
        Example("from asyncio import get_event_loop as gel\nloop = gel()\n", at=((2, 8),)),
        Example("from asyncio import events\nloop = events.get_event_loop()\n", at=((2, 8),)),
        Example("import asyncio.events\nloop = asyncio.events.get_event_loop()\n", at=((2, 8),)),
        Example(
            "def helper():\n    import asyncio\n    return asyncio.get_event_loop()\n",
            at=((3, 12),),
        ),
        Example(
            "from . import events\nloop = events.get_event_loop()\n",
            "asyncio/tasks.py",
            at=((2, 8),),
        ),
        Example(
            "from .events import get_event_loop\nget_event_loop()\n",
            "asyncio/futures.py",
            at=((2, 1),),
        ),
    )

    def visit(self, node: cst.CSTNode, ctx: Context) -> None:
        assert isinstance(node, cst.Call)
        if ctx.qualified_name(node.func) not in GET_EVENT_LOOP:
            return
        target = self._fix_target(node, ctx) if ctx.in_async and not node.args else None
        if target is not None:
            instead = cst.Module([]).code_for_node(target)
            message = f"asyncio.get_event_loop() inside async def: use {instead}()"
        elif ctx.in_async:
            message = "asyncio.get_event_loop() inside async def: use asyncio.get_running_loop()"
        else:
            message = (
                "asyncio.get_event_loop() outside async def: use asyncio.run() "
                "or create and close a loop with asyncio.new_event_loop()"
            )
        replacement = None if target is None else node.with_changes(func=target)
        ctx.report(self, node, message, replacement=replacement)

    @staticmethod
    def _fix_target(node: cst.Call, ctx: Context) -> cst.BaseExpression | None:
        """The callee that replaces ``node.func`` in the fix, or None when there is none."""
        func = node.func
        if isinstance(func, cst.Attribute):
            return func.with_changes(attr=cst.Name("get_running_loop"))
        if ctx.scopes.resolve("get_running_loop", ctx.scope) in GET_RUNNING_LOOP:
            return cst.Name("get_running_loop")
        return None
