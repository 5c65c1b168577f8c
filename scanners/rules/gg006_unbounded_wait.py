"""GG006 unbounded-wait."""

from __future__ import annotations

import libcst as cst

from pytest_gridgate.settings import ScanSettings
from scanners.rules.declaration import Argument
from scanners.rules.rule import Context, Example, Rule

RUN_CALLS = frozenset(
    {"subprocess.run", "subprocess.call", "subprocess.check_call", "subprocess.check_output"}
)
PROCESS_FACTORIES = frozenset(
    {
        "subprocess.Popen",
        "asyncio.create_subprocess_exec",
        "asyncio.create_subprocess_shell",
        "asyncio.subprocess.create_subprocess_exec",
        "asyncio.subprocess.create_subprocess_shell",
    }
)
WAIT_FOR = frozenset({"asyncio.wait_for", "asyncio.tasks.wait_for"})


TIMEOUT = Argument("timeout")


class UnboundedWait(Rule):
    """Flags waits on a child process that can last forever.

    - ``subprocess.run``, ``call``, ``check_call``, ``check_output`` without ``timeout=``
      (or with ``timeout=None``);
    - ``.communicate()`` on any receiver without a timeout (``timeout=`` or the second
      positional argument): the method name is specific to processes;
    - ``.wait()`` without a timeout on a *process*: a name or attribute (``proc``,
      ``self.proc``) that the same file assigns from ``subprocess.Popen(...)`` or
      ``[await] asyncio.create_subprocess_exec/shell(...)``, or binds with
      ``with subprocess.Popen(...) as proc``, or ``subprocess.Popen(...).wait()`` itself.
      ``.wait()`` on anything else (events, conditions, futures) is not this rule's business;
    - in ``async def``, ``communicate()``/``wait()`` of asyncio processes take no timeout:
      they are fine inside ``async with asyncio.timeout(...)``/``timeout_at(...)``
      (also ``async_timeout``, anyio's and trio's ``fail_after``/``move_on_after``) or as
      the awaitable of ``asyncio.wait_for(...)``, and flagged otherwise.

    **Decision on ``*args``/``**kwargs``.** A call that passes ``*args`` or ``**kwargs``
    is not flagged: the timeout may be inside, and a rule that cannot know must not guess.

    **Why it is bad.** A child that never exits (waiting for input, a deadlock, a hung
    network call) blocks the caller forever; in CI that is a job that hangs until the
    runner's six-hour limit instead of failing in seconds with a useful message.

    **Example.**

    ```python
    out = subprocess.check_output(["git", "fetch"])
    proc = await asyncio.create_subprocess_exec("worker")
    await proc.communicate()
    ```

    **Fix.** Pass ``timeout=`` (and handle ``subprocess.TimeoutExpired``); for asyncio
    processes wrap the wait: ``await asyncio.wait_for(proc.communicate(), 30)`` or
    ``async with asyncio.timeout(30):``.
    """

    code = "GG006"
    name = "unbounded-wait"
    node_types = (cst.Call, cst.Assign, cst.AnnAssign, cst.WithItem)
    calls = RUN_CALLS
    methods = ("communicate", "wait")
    unless_given = {  # noqa: RUF012 - read only
        **dict.fromkeys(RUN_CALLS, TIMEOUT),
        "communicate": Argument("timeout", 1),
        "wait": Argument("timeout", 0),
    }
    # A `.wait()` is only flagged on a process made in the same file.
    needs = {"wait": PROCESS_FACTORIES}  # noqa: RUF012 - read only
    VALID = (
        "import subprocess\nsubprocess.run(['ls'], timeout=10)\n",
        "import subprocess\ndef f(**options):\n    subprocess.run(['ls'], **options)\n",
        "import subprocess\np = subprocess.Popen(['ls'])\np.communicate(timeout=5)\n"
        "p.wait(timeout=5)\np.wait(5)\n",
        "import subprocess\np = subprocess.Popen(['ls'])\nout, err = p.communicate(None, 5)\n",
        "import threading\nevent = threading.Event()\nevent.wait()\n",
        "import asyncio\nasync def f():\n    p = await asyncio.create_subprocess_exec('ls')\n"
        "    async with asyncio.timeout(5):\n"
        "        await p.communicate()\n        await p.wait()\n",
        "import asyncio\nasync def f():\n    p = await asyncio.create_subprocess_exec('ls')\n"
        "    await asyncio.wait_for(p.communicate(), 5)\n",
        "from asyncio import timeout_at as deadline_at\nimport asyncio\n"
        "async def f(when):\n    p = await asyncio.create_subprocess_exec('ls')\n"
        "    async with deadline_at(when):\n        await p.wait()\n",
        "def run(cmd):\n    pass\nrun(['ls'])  # not subprocess.run\n",
        "# subprocess.run(['ls'])\nTEXT = 'p.communicate()'\n",
    )
    INVALID = (
        Example("import subprocess\nsubprocess.run(['ls'])\n", at=((2, 1),)),
        Example("from subprocess import check_output as co\nco(['git', 'fetch'])\n", at=((2, 1),)),
        Example("import subprocess\nsubprocess.call(['ls'], timeout=None)\n", at=((2, 1),)),
        Example("import subprocess\np = subprocess.Popen(['ls'])\np.communicate()\n", at=((3, 1),)),
        Example(
            "import subprocess\nclass W:\n    def stop(self):\n        self.proc.wait()\n"
            "    def start(self):\n        self.proc = subprocess.Popen(['ls'])\n",
            at=((4, 9),),
        ),
        Example(
            "import subprocess\nwith subprocess.Popen(['ls']) as p:\n    p.wait()\n", at=((3, 5),)
        ),
        Example("import subprocess\nsubprocess.Popen(['ls']).wait()\n", at=((2, 1),)),
        Example(
            "import asyncio\nasync def f():\n    p = await asyncio.create_subprocess_exec('ls')\n"
            "    await p.communicate()\n",
            at=((4, 11),),
        ),
        Example(
            "import asyncio\nasync def f():\n    p = await asyncio.create_subprocess_exec('ls')\n"
            "    async with asyncio.timeout(5):\n        pass\n    await p.wait()\n",
            at=((6, 11),),
        ),
    )

    def __init__(self, settings: ScanSettings, path: str) -> None:
        super().__init__(settings, path)
        self.processes: set[str] = set()  # written names assigned a process
        self.waits: list[tuple[str, cst.Call, bool]] = []  # (receiver, call, in async def)

    # -- which names hold processes -------------------------------------------------------

    def _is_factory(self, value: cst.BaseExpression | None, ctx: Context) -> bool:
        if isinstance(value, cst.Await):
            value = value.expression
        return isinstance(value, cst.Call) and ctx.qualified_name(value.func) in PROCESS_FACTORIES

    def _remember(self, target: cst.BaseExpression, ctx: Context) -> None:
        name = ctx.written_name(target)
        if name is not None:
            self.processes.add(name)

    def visit(self, node: cst.CSTNode, ctx: Context) -> None:
        if isinstance(node, cst.Assign):
            if self._is_factory(node.value, ctx):
                for target in node.targets:
                    self._remember(target.target, ctx)
        elif isinstance(node, cst.AnnAssign):
            if self._is_factory(node.value, ctx):
                self._remember(node.target, ctx)
        elif isinstance(node, cst.WithItem):
            if node.asname is not None and self._is_factory(node.item, ctx):
                self._remember(node.asname.name, ctx)
        elif isinstance(node, cst.Call):
            self._call(node, ctx)

    def _bounded_by_context(self, node: cst.Call, ctx: Context) -> bool:
        """Inside an asyncio timeout block, or the awaitable given to ``wait_for``."""
        if ctx.in_async and ctx.in_timeout:
            return True
        parent = ctx.parent
        if isinstance(parent, cst.Arg):
            owner = ctx.stack[-2] if len(ctx.stack) >= 2 else None
            if isinstance(owner, cst.Call) and ctx.qualified_name(owner.func) in WAIT_FOR:
                return True
        return False

    def _call(self, node: cst.Call, ctx: Context) -> None:
        func = node.func
        resolved = ctx.qualified_name(func)
        if resolved in RUN_CALLS:
            if not self.unless_given[resolved].given(node):
                short = resolved.partition(".")[2]
                ctx.report(self, node, f"subprocess.{short}() without timeout: pass timeout=")
            return
        if not isinstance(func, cst.Attribute):
            return
        method = func.attr.value
        if method not in self.methods or self.unless_given[method].given(node):
            return
        if method == "communicate":
            if not self._bounded_by_context(node, ctx):
                ctx.report(self, node, self._message("communicate", ctx.in_async))
        else:
            if self._bounded_by_context(node, ctx):
                return
            if self._is_factory(func.value, ctx):
                ctx.report(self, node, self._message("wait", ctx.in_async))
                return
            receiver = ctx.written_name(func.value)
            if receiver is not None:
                self.waits.append((receiver, node, ctx.in_async))

    @staticmethod
    def _message(method: str, in_async: bool) -> str:
        if in_async:
            return (
                f"{method}() without a timeout: use asyncio.wait_for() or "
                "`async with asyncio.timeout(...)`"
            )
        return f"{method}() without timeout: pass timeout="

    def finish(self, ctx: Context) -> None:
        # Decided at the end: the process may be assigned after the method that waits on it.
        for receiver, node, in_async in self.waits:
            if receiver in self.processes:
                ctx.report(self, node, self._message("wait", in_async))
