"""GG002 run-until-complete."""

from __future__ import annotations

import libcst as cst

from scanners.rules.rule import Context, Example, Rule


class RunUntilComplete(Rule):
    """Flags ``<loop>.run_until_complete(...)`` outside the program's entry point.

    **Why it is bad.** ``run_until_complete`` drives an event loop from synchronous code. In
    library code it raises ``RuntimeError: This event loop is already running`` as soon as a
    caller is itself async (a test with pytest-asyncio, a web framework), and it usually
    goes with a loop that nobody closes. Only the program's entry point should own the loop.

    Allowed under ``if __name__ == "__main__":`` and in ``__main__.py``. Every receiver
    counts (``loop``, ``self._loop``, ``asyncio.new_event_loop()``): the method name is
    specific enough, and no resolution can tell what ``loop`` holds.

    **Example.**

    ```python
    def fetch_all(urls):
        loop = asyncio.new_event_loop()
        return loop.run_until_complete(gather_pages(urls))
    ```

    **Fix.** Make the function ``async`` and ``await`` the coroutine, or run the program
    once at the entry point with ``asyncio.run(main())``.
    """

    code = "GG002"
    name = "run-until-complete"
    node_types = (cst.Call,)
    methods = ("run_until_complete",)
    outside_main_guard = True
    VALID = (
        "import asyncio\nasync def main():\n    await work()\n"
        "if __name__ == '__main__':\n    loop = asyncio.new_event_loop()\n"
        "    loop.run_until_complete(main())\n",
        Example(
            "import asyncio\nloop = asyncio.new_event_loop()\nloop.run_until_complete(m())\n",
            "pkg/__main__.py",
        ),
        "# loop.run_until_complete(main())\nHELP = 'call loop.run_until_complete(main())'\n",
        "runner = loop.run_until_complete  # not called\n",
    )
    INVALID = (
        Example(
            "def fetch_all(loop, urls):\n    return loop.run_until_complete(gather_pages(urls))\n",
            at=((2, 12),),
        ),
        Example(
            "import asyncio\nasyncio.new_event_loop().run_until_complete(main())\n", at=((2, 1),)
        ),
        Example(
            "class Client:\n    def close(self):\n"
            "        self._loop.run_until_complete(self._aclose())\n",
            at=((3, 9),),
        ),
        Example("if __name__ != '__main__':\n    loop.run_until_complete(main())\n", at=((2, 5),)),
    )

    def applies(self) -> bool:
        return self.path.replace("\\", "/").rpartition("/")[2] != "__main__.py"

    def visit(self, node: cst.CSTNode, ctx: Context) -> None:
        assert isinstance(node, cst.Call)
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "run_until_complete"):
            return
        if ctx.in_main_guard or ctx.is_main_module:
            return
        ctx.report(
            self,
            node,
            "run_until_complete() outside the entry point: await it, or use asyncio.run() "
            'under `if __name__ == "__main__":`',
        )
