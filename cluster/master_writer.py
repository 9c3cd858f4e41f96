"""The one way a node writes as its service's master: fenced, and stepping down when refused.

Every master-only write goes through `MasterWriter.write()` (a route through
`NodeContext.master_write()`): it passes the master role's fence itself, so the write
records the lease's epoch when it begins and checks the lease again just before COMMIT
(`storage/fencing.py`). When the database refuses the write (`StaleEpochError`: a newer
master has written, or `LeaseEndedError`: the lease ended while the transaction ran),
the node steps down at once, whoever wrote (a route, the outbox, an import job), so a
deposed master stops acting as one before its lease would have run out. The error goes
on to the caller; `services/common/problems.py` renders it (503 `/problems/fenced`).

Nothing else in `cluster/` or `services/` opens a fenced write by hand
(`tests/unit/test_fenced_call_sites.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from cluster.errors import EpochChangedError, LeaseNotHeldError
from storage.database import Database
from storage.errors import StaleEpochError
from storage.fencing import Fence

STEP_DOWN_REASON = "a write was refused by fencing"


class Master(Protocol):
    """What the writer needs of the master role (`cluster.master.MasterRole`)."""

    def fence(self) -> tuple[str, int]:
        """`(scope, epoch)` while this node holds the lease; LeaseNotHeldError otherwise."""
        ...

    def step_down(self, reason: str) -> None: ...


class MasterWriter:
    def __init__(self, database: Database, master: Master) -> None:
        self.database = database
        self.master = master

    def fence(self) -> tuple[str, int]:
        """The master's `(scope, epoch)` now; LeaseNotHeldError unless this node holds the lease."""
        return self.master.fence()

    @asynccontextmanager
    async def write(
        self, *, epoch: int | None = None, pinned: tuple[str, int] | None = None
    ) -> AsyncIterator[AsyncConnection]:
        """A write transaction as the master, committed if the block ends without an exception.

        LeaseNotHeldError unless this node holds the lease when it begins. `epoch`: only
        within that lease epoch (an import job's own), EpochChangedError otherwise.
        `pinned`: this `(scope, epoch)` as it is, with no look at the lease, so that a
        stale epoch reaches the database's own rule (the write-check failpoint).
        """
        fence: Fence = self.master.fence if epoch is None else _Within(self.master, epoch).fence
        if pinned is not None:
            fence = pinned
        try:
            async with self.database.write(fence=fence) as conn:
                yield conn
        except StaleEpochError as refused:
            self._step_down_unless_newer(refused.epoch)
            raise

    def _step_down_unless_newer(self, refused: int) -> None:
        """Step down, unless this node has since become master at a newer epoch than the refused one."""
        try:
            _scope, now = self.master.fence()
        except LeaseNotHeldError:
            now = refused  # the lease is gone already: stepping down stops a late renewal counting
        if now <= refused:
            self.master.step_down(STEP_DOWN_REASON)


class _Within:
    def __init__(self, master: Master, epoch: int) -> None:
        self._master = master
        self._epoch = epoch

    def fence(self) -> tuple[str, int]:
        scope, epoch = self._master.fence()
        if epoch != self._epoch:
            raise EpochChangedError(f"the master epoch changed from {self._epoch} to {epoch}")
        return scope, epoch
