"""Worker processes that outlive a crashing parser.

libcst's native parser overflows the C stack on a few thousand nested brackets and takes
its process down with SIGSEGV; no ``except`` can catch that. So the files are scanned in
forked worker processes, each working through a batch of files *in order* and sending one
message per finished file. When a worker dies, the parent knows exactly which file it was
on (the first of its batch without a result): that file gets the ``on_crash`` result, the
rest of the batch goes back in the queue and a fresh worker takes over. A file that runs
longer than ``file_timeout`` seconds is treated the same way.

The workers are forked, so they share the parent's already-read sources and configuration
and only indices and results travel through the pipes. Without ``fork`` (Windows) the files
are scanned in this process, without the crash isolation.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import IO, Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def _serve(conn: Connection, items: Sequence[Any], work: Callable[[Any], Any], stderr: int) -> None:
    # The parent handles Ctrl-C and stops us; native crash messages go to a file the parent
    # reads, not to the user's terminal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.dup2(stderr, 2)
    while True:
        batch = conn.recv()
        if not batch:
            return
        for index in batch:
            conn.send((index, work(items[index])))


class _Worker(Generic[T]):
    def __init__(
        self,
        context: Any,
        items: Sequence[T],
        work: Callable[[T], Any],
    ) -> None:
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.conn, child = multiprocessing.Pipe()
        self.process = context.Process(
            target=_serve, args=(child, items, work, self.stderr.fileno()), daemon=True
        )
        self.process.start()
        child.close()
        self.outstanding: deque[int] = deque()
        self.since = time.monotonic()

    def assign(self, batch: list[int]) -> None:
        if not self.outstanding:
            self.since = time.monotonic()
        self.outstanding.extend(batch)
        self.conn.send(batch)

    def crash_report(self) -> str:
        """Why the worker died: its signal or exit code and its last stderr line."""
        self.process.join(5)
        code = self.process.exitcode
        if code is None:
            why = "did not finish"
        elif code < 0:
            try:
                why = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                why = f"was killed by signal {-code}"
        else:
            why = f"exited with status {code}"
        self.stderr.seek(0)
        lines = self.stderr.read().decode("utf-8", "replace").strip().splitlines()
        tail = f" ({lines[-1].strip()[:200]})" if lines else ""
        return f"the parser crashed on this file: its worker process {why}{tail}"

    def close(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self.conn.send([])
            self.process.join(5)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()
        self.conn.close()
        self.stderr.close()


def run_isolated(
    items: Sequence[T],
    work: Callable[[T], R],
    on_crash: Callable[[T, str], R],
    *,
    jobs: int,
    file_timeout: float = 300.0,
) -> list[R]:
    """``[work(item) for item in items]``, in worker processes that may die."""
    if not items:
        return []
    if "fork" not in multiprocessing.get_all_start_methods():  # pragma: no cover - Windows
        return [work(item) for item in items]
    context = multiprocessing.get_context("fork")
    results: dict[int, R] = {}
    pending: deque[int] = deque(range(len(items)))
    count = max(1, min(jobs, len(items)))
    # Small batches keep the load balanced; results stream back per file regardless.
    batch_size = max(1, min(4, len(items) // (count * 8)))
    workers: list[_Worker[T]] = []

    def feed(worker: _Worker[T]) -> None:
        batch = [pending.popleft() for _ in range(min(batch_size, len(pending)))]
        if batch:
            worker.assign(batch)

    def bury(worker: _Worker[T], why: str) -> None:
        culprit = worker.outstanding.popleft()
        results[culprit] = on_crash(items[culprit], why)
        pending.extendleft(reversed(worker.outstanding))
        worker.outstanding.clear()
        worker.close()
        workers.remove(worker)

    try:
        workers.extend(_Worker(context, items, work) for _ in range(count))
        while len(results) < len(items):
            for worker in list(workers):
                # The next batch is queued before the current one ends, so that a worker
                # never waits for this loop to wake up.
                if len(worker.outstanding) <= 1:
                    feed(worker)
            while pending and len(workers) < count:
                worker = _Worker(context, items, work)
                workers.append(worker)
                feed(worker)
            busy = [w for w in workers if w.outstanding]
            if not busy:  # pragma: no cover - defensive: nothing left to wait for
                break
            waitables: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
            ready = wait(waitables, timeout=1.0)
            for worker in busy:
                died = worker.process.sentinel in ready
                if worker.conn in ready or died:
                    try:
                        while worker.outstanding and worker.conn.poll():
                            index, result = worker.conn.recv()
                            results[index] = result
                            worker.outstanding.remove(index)
                            worker.since = time.monotonic()
                    except (EOFError, OSError):
                        died = True
                if worker.outstanding and (died or not worker.process.is_alive()):
                    bury(worker, worker.crash_report())
                elif worker.outstanding and time.monotonic() - worker.since > file_timeout:
                    worker.process.kill()
                    worker.process.join()
                    bury(worker, f"scanning this file took longer than {file_timeout:g} s")
    finally:
        for worker in workers:
            worker.close()
    return [results[i] for i in range(len(items))]
