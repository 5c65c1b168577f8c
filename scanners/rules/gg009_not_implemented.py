"""GG009 not-implemented."""

from __future__ import annotations

import libcst as cst

from pytest_gridgate.settings import NotImplementedSettings, ScanSettings
from scanners.globs import glob_matches
from scanners.rules.names import raised_class
from scanners.rules.rule import Context, Example, Rule

ABSTRACT_DECORATORS = frozenset(
    {
        "abc.abstractmethod",
        "abc.abstractproperty",
        "abc.abstractclassmethod",
        "abc.abstractstaticmethod",
    }
)
PROTOCOLS = frozenset({"typing.Protocol", "typing_extensions.Protocol"})
NOT_IMPLEMENTED = "builtins.NotImplementedError"


class NotImplementedInRuntime(Rule):
    """Flags ``raise NotImplementedError`` in the configured runtime paths
    (``[tool.gridgate.scan.not_implemented] paths``), except in abstract methods.

    **Why it is bad.** A stub that raises at run time passes import, type checks and any
    test that does not reach it, and then fails in production. In runtime code a missing
    implementation should be a failing test, not a latent exception.

    Abstract methods are exempt: a method decorated with ``@abstractmethod``
    (``abc.abstractmethod``, however imported, also ``abstractproperty``,
    ``abstractclassmethod``, ``abstractstaticmethod``), and every method of a
    ``Protocol`` class (``typing.Protocol``/``typing_extensions.Protocol``, also
    ``Protocol[T]``), whose bodies are interface declarations. A method that raises
    ``NotImplementedError`` in a plain base class is flagged: make it abstract.

    **Example.**

    ```python
    class Engine:
        def execute(self, plan):
            raise NotImplementedError("TODO")
    ```

    **Fix.** Implement it, or make the class an ABC and the method an ``@abstractmethod``.
    """

    code = "GG009"
    name = "not-implemented"
    node_types = (cst.Raise,)
    raises = (NOT_IMPLEMENTED,)
    EXAMPLE_SETTINGS = ScanSettings(not_implemented=NotImplementedSettings(paths=("runtime/**",)))
    VALID = (
        Example(
            "import abc\nclass Engine(abc.ABC):\n    @abc.abstractmethod\n"
            "    def execute(self, plan):\n        raise NotImplementedError\n",
            "runtime/engine.py",
        ),
        Example(
            "from abc import ABC, abstractmethod\nclass Engine(ABC):\n    @property\n"
            "    @abstractmethod\n    def name(self):\n        raise NotImplementedError()\n",
            "runtime/engine.py",
        ),
        Example(
            "from typing import Protocol\nclass Engine(Protocol):\n"
            "    def execute(self, plan):\n        raise NotImplementedError\n",
            "runtime/engine.py",
        ),
        Example("def execute(plan):\n    raise NotImplementedError\n", "tools/engine.py"),
        Example(
            "# raise NotImplementedError\ndef f():\n    return 'raise NotImplementedError'\n",
            "runtime/engine.py",
        ),
    )
    INVALID = (
        Example(
            "class Engine:\n    def execute(self, plan):\n"
            "        raise NotImplementedError('TODO')\n",
            "runtime/engine.py",
            at=((3, 9),),
        ),
        Example(
            "def execute(plan):\n    raise NotImplementedError\n",
            "src/app/runtime/x.py",
            at=((2, 5),),
        ),
        Example(
            "import abc\nclass Engine(abc.ABC):\n    @abc.abstractmethod\n"
            "    def execute(self, plan):\n        def helper():\n"
            "            raise NotImplementedError\n        return helper\n",
            "runtime/engine.py",
            at=((6, 13),),
        ),
    )

    def applies(self) -> bool:
        return any(glob_matches(glob, self.path) for glob in self.settings.not_implemented.paths)

    def visit(self, node: cst.CSTNode, ctx: Context) -> None:
        assert isinstance(node, cst.Raise)
        exc = raised_class(node)
        if not isinstance(exc, cst.BaseExpression) or ctx.qualified_name(exc) != NOT_IMPLEMENTED:
            return
        function = ctx.function
        if function is not None and self._is_abstract(function, ctx):
            return
        ctx.report(self, node, "raise NotImplementedError in runtime code: implement it")

    @staticmethod
    def _is_abstract(function: cst.FunctionDef, ctx: Context) -> bool:
        for decorator in function.decorators:
            if ctx.qualified_name(decorator.decorator) in ABSTRACT_DECORATORS:
                return True
        owner = ctx.enclosing_class
        if owner is None:
            return False
        for base in owner.bases:
            value = base.value
            if isinstance(value, cst.Subscript):
                value = value.value
            if ctx.qualified_name(value) in PROTOCOLS:
                return True
        return False
