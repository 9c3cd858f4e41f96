"""The worker process where import jobs do their CPU work (CSV parsing, validation, bcrypt).

Under the GIL, a thread that validates 10,000 rows starves the event loop and the Raft
thread of the same process: that is how an import cost a master its lease. One worker
process per node takes that work out of the process altogether, at a lower CPU priority
(`nice`), so on a saturated machine the scheduler serves the node's lease renewals first.
It starts at the first import (spawned, not forked: the node runs threads) and stops with
the node. Functions sent to it must be module-level and take and return plain data.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")
WORKER_NICENESS = 10


def _lower_priority() -> None:
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)


class WorkerPool:
    def __init__(self, workers: int = 1) -> None:
        self._workers = workers
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self._workers, mp_context=multiprocessing.get_context("spawn"), initializer=_lower_priority
            )
        return self._executor

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in the worker process; the event loop only waits."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool(), fn, *args)
        except BrokenProcessPool:
            self.close()  # the worker died (killed, out of memory): the next call starts a new one
            raise

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
