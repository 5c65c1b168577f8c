"""The runtime engine (scanner demo: GG009)."""

from __future__ import annotations

import abc


class Backend(abc.ABC):
    @abc.abstractmethod
    def execute(self, plan: str) -> str:
        raise NotImplementedError  # fine: an abstract method


class Engine:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def execute(self, plan: str) -> str:
        return self.backend.execute(plan)

    def rollback(self, plan: str) -> None:
        raise NotImplementedError("rollback")  # GG009: a stub in runtime code
