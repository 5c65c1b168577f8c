"""GG008 blocking-in-async."""

from __future__ import annotations

import libcst as cst

from scanners.rules.rule import Context, Example, Rule

# Blocking call -> what to use instead.
BLOCKING = {
    "time.sleep": "await asyncio.sleep()",
    "subprocess.run": "asyncio.create_subprocess_exec()",
    "subprocess.call": "asyncio.create_subprocess_exec()",
    "subprocess.check_call": "asyncio.create_subprocess_exec()",
    "subprocess.check_output": "asyncio.create_subprocess_exec()",
    "subprocess.getoutput": "asyncio.create_subprocess_exec()",
    "subprocess.getstatusoutput": "asyncio.create_subprocess_exec()",
    "os.system": "asyncio.create_subprocess_exec()",
    "os.wait": "the asyncio process's wait()",
    "os.waitpid": "the asyncio process's wait()",
    "urllib.request.urlopen": "an async HTTP client or asyncio.to_thread()",
    "requests.get": "an async HTTP client or asyncio.to_thread()",
    "requests.post": "an async HTTP client or asyncio.to_thread()",
    "requests.put": "an async HTTP client or asyncio.to_thread()",
    "requests.patch": "an async HTTP client or asyncio.to_thread()",
    "requests.delete": "an async HTTP client or asyncio.to_thread()",
    "requests.head": "an async HTTP client or asyncio.to_thread()",
    "requests.request": "an async HTTP client or asyncio.to_thread()",
}


class BlockingInAsync(Rule):
    """Flags blocking calls directly inside ``async def``: ``time.sleep``, ``subprocess``'s
    ``run``/``call``/``check_call``/``check_output``/``getoutput``/``getstatusoutput``,
    ``os.system``, ``os.wait``/``waitpid``, ``urllib.request.urlopen`` and
    ``requests.get``/``post``/``put``/``patch``/``delete``/``head``/``request``.

    **Why it is bad.** A blocking call stops the event loop: every other task, timeout and
    cancellation waits with it, so ``asyncio.wait_for`` and pytest's async timeouts cannot
    fire, and a "concurrent" test suite runs one thing at a time or hangs.

    Only code that runs on the loop counts: a sync ``def`` or ``lambda`` nested in an
    ``async def`` is not async context (it may well be sent to a thread). Names are
    resolved through imports (``from time import sleep as nap``).

    **Example.**

    ```python
    async def poll(job):
        while not job.done():
            time.sleep(1)
    ```

    **Fix.** ``await asyncio.sleep(1)``; ``asyncio.create_subprocess_exec`` for processes;
    ``await asyncio.to_thread(fn, ...)`` for anything else that blocks.
    """

    code = "GG008"
    name = "blocking-in-async"
    node_types = (cst.Call,)
    calls = BLOCKING
    only_in_async = True
    VALID = (
        "import asyncio\nasync def poll():\n    await asyncio.sleep(1)\n",
        "import time\ndef poll():\n    time.sleep(1)\n",
        "import time\nasync def outer():\n    def inner():\n        time.sleep(1)\n"
        "    await asyncio.to_thread(inner)\n",
        "import asyncio, time\nasync def f():\n    await asyncio.to_thread(time.sleep, 1)\n",
        "async def f(time):\n    time.sleep(1)  # a parameter, not the module\n",
        "# time.sleep(1)\nasync def f():\n    return 'time.sleep(1)'\n",
    )
    INVALID = (
        Example("import time\nasync def poll(job):\n    time.sleep(1)\n", at=((3, 5),)),
        Example("from time import sleep as nap\nasync def poll():\n    nap(1)\n", at=((3, 5),)),
        Example(
            "import subprocess\nasync def build():\n    subprocess.run(['make'], timeout=60)\n",
            at=((3, 5),),
        ),
        Example(
            "import os\nclass A:\n    async def go(self):\n        os.system('ls')\n", at=((4, 9),)
        ),
    )

    def visit(self, node: cst.CSTNode, ctx: Context) -> None:
        assert isinstance(node, cst.Call)
        if not ctx.in_async:
            return
        resolved = ctx.qualified_name(node.func)
        instead = BLOCKING.get(resolved or "")
        if instead is not None:
            ctx.report(self, node, f"{resolved}() blocks the event loop: use {instead}")
