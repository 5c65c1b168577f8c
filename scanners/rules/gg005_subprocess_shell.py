"""GG005 subprocess-shell."""

from __future__ import annotations

import libcst as cst

from scanners.rules.declaration import passes_keyword
from scanners.rules.rule import Context, Example, Rule

SHELL_CALLS = {
    "os.system": "os.system()",
    "os.popen": "os.popen()",
    "posix.system": "os.system()",
    "asyncio.create_subprocess_shell": "asyncio.create_subprocess_shell()",
    "asyncio.subprocess.create_subprocess_shell": "asyncio.create_subprocess_shell()",
    "subprocess.getoutput": "subprocess.getoutput()",
    "subprocess.getstatusoutput": "subprocess.getstatusoutput()",
}


class SubprocessShell(Rule):
    """Flags commands run through a shell: ``shell=True``, ``os.system``, ``os.popen``,
    ``asyncio.create_subprocess_shell`` (and ``subprocess.getoutput``/``getstatusoutput``,
    which use a shell too).

    **Why it is bad.** A shell between the test and the process hides the process: the pid
    you hold is the shell's, so a timeout kills the shell and leaves the real command
    running (the CI job then hangs until its own timeout), exit codes of pipelines are
    masked, and any interpolated value is a command injection.

    ``shell=True`` is flagged on any call when the value is the literal ``True``; a variable
    (``shell=use_shell``) or ``**kwargs`` is not, since it may be ``False``. The other calls
    are resolved through imports.

    **Example.**

    ```python
    subprocess.run(f"pytest {path} | tee log", shell=True, timeout=60)
    ```

    **Fix.** Pass an argument list without a shell:
    ``subprocess.run(["pytest", path], timeout=60)``; use
    ``asyncio.create_subprocess_exec`` instead of ``create_subprocess_shell``.
    """

    code = "GG005"
    name = "subprocess-shell"
    node_types = (cst.Call,)
    calls = SHELL_CALLS
    keywords = {"shell": True}  # noqa: RUF012 - read only
    VALID = (
        "import subprocess\nsubprocess.run(['ls', '-l'], timeout=5)\n",
        "import subprocess\nsubprocess.run(['ls'], shell=False, timeout=5)\n",
        "import platform\nplatform.system()\n",
        "import asyncio\nasync def f():\n    await asyncio.create_subprocess_exec('ls')\n",
        "# os.system('ls')\nHELP = \"subprocess.run(cmd, shell=True)\"\n",
    )
    INVALID = (
        Example(
            "import subprocess\nsubprocess.run('ls -l', shell=True, timeout=5)\n", at=((2, 1),)
        ),
        Example("import os\nos.system('ls')\n", at=((2, 1),)),
        Example("from os import popen as p\np('ls').read()\n", at=((2, 1),)),
        Example(
            "import asyncio as aio\nasync def f():\n    await aio.create_subprocess_shell('ls')\n",
            at=((3, 11),),
        ),
        Example("import subprocess\nout = subprocess.getoutput('ls')\n", at=((2, 7),)),
    )

    def visit(self, node: cst.CSTNode, ctx: Context) -> None:
        assert isinstance(node, cst.Call)
        if passes_keyword(node, "shell", True):
            ctx.report(self, node, "shell=True: pass an argument list without a shell")
            return
        what = SHELL_CALLS.get(ctx.qualified_name(node.func) or "")
        if what is not None:
            ctx.report(self, node, f"{what} runs a shell: use subprocess with an argument list")
