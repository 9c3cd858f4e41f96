"""The revocation outbox: an ended session reaches the replicated revocation list, however long Raft is away.

Ending a session is a database change; refusing its access tokens on every node is a
Raft entry. The two cannot commit together, so the first carries the second: the
transaction that ends sessions also writes one `session_revocations` row per session
(`record()`), and the entry is proposed to Raft afterwards until Raft has committed it,
then the row is marked delivered. The request that ended the sessions tries once at
once (`push()`, bounded, never raising: its change is committed whatever Raft says); the
login master retries every pending row every `PERIOD_SECONDS`, so a revocation made while
Raft has no quorum is applied within about a period of the quorum (and a master) coming
back. Proposing twice is harmless: a revocation only ever extends `until`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from cluster.errors import LeaseNotHeldError
from storage.database import Database
from storage.schemas.login import session_revocations

log = logging.getLogger("course_selection.login")

PERIOD_SECONDS = 0.1  # how often the master retries what is pending (one indexed read)
# The most one proposal may take (a leader without quorum, or one deposed meanwhile, never
# answers): the request that ended the sessions waits this long at most; the master's retries
# give up sooner, so a proposal lost in an election does not hold the next one back.
PUSH_SECONDS, RETRY_SECONDS = 1.0, 0.3
BATCH = 500
Revoke = Callable[[list[str], float, float], Awaitable[None]]  # (session ids, until, now): one Raft entry


class Revocations(Collector):
    def __init__(
        self,
        database: Database,
        revoke: Revoke,
        is_master: Callable[[], bool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._database = database
        self._revoke = revoke
        self._is_master = is_master
        self._clock = clock
        self._wake = asyncio.Event()
        self._stopped = False
        self._failing = False
        self.pending = 0  # found pending (not in Raft yet) at the master's last look

    async def record(self, conn: AsyncConnection, session_ids: Sequence[str], until: float, now: float) -> None:
        """In the caller's transaction: these sessions are to be revoked everywhere."""
        if session_ids:
            await conn.execute(
                session_revocations.insert(),
                [{"session_id": sid, "until": until, "created_at": now} for sid in session_ids],
            )

    async def push(self, session_ids: Sequence[str]) -> bool:
        """After the commit: propose these sessions' revocations now (bounded); True once Raft has
        them. Never raises: what is not delivered here the master delivers later."""
        if not session_ids:
            return True
        try:
            async with self._database.read() as conn:
                rows = (
                    await conn.execute(
                        select(session_revocations.c.id, session_revocations.c.session_id, session_revocations.c.until)
                        .where(
                            session_revocations.c.session_id.in_(list(session_ids)),
                            session_revocations.c.delivered_at.is_(None),
                        )
                        .order_by(session_revocations.c.id)
                    )
                ).all()
            await self._deliver([(r.id, r.session_id, r.until) for r in rows], PUSH_SECONDS)
            return True
        except Exception as exc:
            self._wake.set()
            log.warning("revocation not applied yet; the master retries it", extra={"error": _text(exc)})
            return False

    async def deliver_due(self) -> int:
        """Propose every pending revocation (up to a batch) if this node is the master; how many."""
        if not self._is_master():
            raise LeaseNotHeldError("only the login master delivers revocations")
        async with self._database.read() as conn:
            rows = (
                await conn.execute(
                    select(session_revocations.c.id, session_revocations.c.session_id, session_revocations.c.until)
                    .where(session_revocations.c.delivered_at.is_(None))
                    .order_by(session_revocations.c.id)
                    .limit(BATCH)
                )
            ).all()
        self.pending = len(rows)
        await self._deliver([(r.id, r.session_id, r.until) for r in rows], RETRY_SECONDS)
        self.pending = 0
        return len(rows)

    async def _deliver(self, rows: Sequence[tuple[int, str, float]], bound: float) -> None:
        """One Raft entry for the rows, then mark them delivered (raises if Raft did not commit)."""
        if not rows:
            return
        now = self._clock()
        async with asyncio.timeout(bound):
            await self._revoke(sorted({sid for _, sid, _ in rows}), max(until for _, _, until in rows), now)
        async with self._database.write() as conn:  # unfenced: "Raft has it" is true whoever is master
            await conn.execute(
                update(session_revocations)
                .where(session_revocations.c.id.in_([row_id for row_id, _, _ in rows]))
                .values(delivered_at=now)
            )
            # Rows past their `until` guard nothing any more (no token of theirs is valid).
            await conn.execute(
                delete(session_revocations).where(
                    session_revocations.c.delivered_at.is_not(None), session_revocations.c.until < now
                )
            )

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "login_revocations_pending",
            "Ended sessions not yet on the replicated revocation list (the master's last look): alert if it stays up.",
            value=float(self.pending),
        )

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    async def run(self) -> None:
        """While this node is the login master: deliver what is pending, every period, until `stop()`."""
        while not self._stopped:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PERIOD_SECONDS):  # (3.11's wait_for can lose a cancellation)
                    await self._wake.wait()
            self._wake.clear()
            if self._stopped or not self._is_master():
                continue
            try:
                while not self._stopped and await self.deliver_due() == BATCH:
                    pass
                if self._failing:
                    log.info("pending revocations delivered")
                self._failing = False
            except LeaseNotHeldError:
                pass
            except Exception as exc:
                if not self._failing:
                    log.warning("revocations not delivered yet; retrying", extra={"error": _text(exc)})
                self._failing = True


def _text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
