"""The notification outbox: written with the change it tells about, delivered later by the master.

`notify()` inserts a message in the caller's transaction, so a promotion and its message
commit together or not at all, and sending can never slow down or fail the change. The
service's master delivers due messages (email and/or SMS, as the settings say); a failed
delivery is retried with exponential backoff up to `max_attempts`, then marked failed.
Channels already delivered are not sent again on a retry. With no channel enabled, the
message is recorded and logged (status `logged`). Delivery is at least once: a master
that dies between sending and recording may have the message sent again by the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from cluster.errors import LeaseNotHeldError
from cluster.master_writer import MasterWriter
from cluster.settings import NotificationSettings
from services.common.senders import Contact, SmsProvider, send_email
from storage.dialects import among_written, insert_rows
from storage.errors import StaleEpochError
from storage.schemas.core import outbox

log = logging.getLogger("course_selection.outbox")

POLL_SECONDS = 1.0  # retries come due without a write to wake us
MIN_GAP_SECONDS = 0.1  # a burst of writes wakes the sender once, not once each
BATCH = 200
ContactOf = Callable[[int], Awaitable[Contact | None]]  # None: no such user


async def notify(conn: AsyncConnection, user_id: int, kind: str, subject: str, body: str, now: float) -> None:
    """Queue a message to `user_id` in the current transaction."""
    await notify_many(conn, [(user_id, kind, subject, body)], now)


async def notify_many(conn: AsyncConnection, messages: Sequence[tuple[int, str, str, str]], now: float) -> None:
    """Queue (user_id, kind, subject, body) messages in the current transaction, in one statement."""
    if messages:
        await insert_rows(conn, outbox, outbox_rows(messages, now))


def outbox_rows(messages: Sequence[tuple[int, str, str, str]], now: float) -> list[dict[str, Any]]:
    """The outbox rows of (user_id, kind, subject, body) messages (for a caller that sends them
    with other rows: `storage.dialects.Inserts`)."""
    return [
        {
            "user_id": user_id,
            "kind": kind,
            "subject": subject[:200],
            "body": body,
            "created_at": now,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "delivered": "",
            "last_error": "",
        }
        for user_id, kind, subject, body in messages
    ]


class Outbox:
    def __init__(
        self,
        writer: MasterWriter,
        settings: Callable[[], NotificationSettings],
        contact_of: ContactOf,
        sms: SmsProvider,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._writer = writer  # a refused write steps the node down
        self._database = writer.database
        self._settings = settings
        self._contact_of = contact_of
        self._sms = sms
        self._clock = clock
        self._wake = asyncio.Event()
        self._stopped = False

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Deliver due messages while this node is the master, until `stop()`."""
        while not self._stopped:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS):  # (3.11's wait_for can lose a cancellation)
                    await self._wake.wait()
            self._wake.clear()
            try:
                while not self._stopped and await self.deliver_due():
                    pass
            except (LeaseNotHeldError, StaleEpochError):
                pass  # another node sends
            except Exception:
                log.exception("notification delivery stopped; trying again")
            await asyncio.sleep(MIN_GAP_SECONDS)

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    async def deliver_due(self) -> int:
        """Try every message due now (up to a batch); return how many were tried."""
        self._writer.fence()  # only the master sends
        async with self._database.read() as conn:
            due = (
                await conn.execute(
                    select(outbox)
                    .where(outbox.c.status == "pending", outbox.c.next_attempt_at <= self._clock())
                    .order_by(outbox.c.id)
                    .limit(BATCH)
                )
            ).all()
        settings = self._settings()
        if due and not (settings.email_enabled or settings.sms_enabled):
            return await self._log_only(due)
        results = [(row.id, await self._attempt(row, settings)) for row in due]
        if results:  # one transaction for the whole batch, not one per message
            async with self._writer.write() as conn:
                for row_id, changes in results:
                    await conn.execute(update(outbox).where(outbox.c.id == row_id).values(**changes))
        return len(due)

    async def _log_only(self, due: Sequence[Row[Any]]) -> int:
        """No channel is configured: record and log the messages (one statement for the batch)."""
        for row in due:
            log.info(
                "notification recorded (no email or SMS configured)",
                extra={"user_id": row.user_id, "kind": row.kind, "subject": row.subject},
            )
        async with self._writer.write() as conn:
            await conn.execute(
                update(outbox)
                .where(among_written(conn.dialect, outbox.c.id, [row.id for row in due]))
                .values(status="logged", finished_at=self._clock())
            )
        return len(due)

    async def _send(
        self, channel: str, address: str, contact: Contact, row: Row[Any], settings: NotificationSettings
    ) -> str | None:
        """Send on one channel: None, or what went wrong."""
        try:
            if channel == "email":
                await send_email(settings, contact, row.subject, row.body)
            else:
                await self._sms.send(settings, address, f"{row.subject}: {row.body}")
        except Exception as exc:
            return f"{channel}: {type(exc).__name__}: {exc}"
        return None

    async def _attempt(self, row: Row[Any], settings: NotificationSettings) -> dict[str, Any]:
        """Try the enabled channels not delivered yet; the row's new state."""
        now = self._clock()
        channels = [name for name, on in (("email", settings.email_enabled), ("sms", settings.sms_enabled)) if on]
        delivered = set(filter(None, row.delivered.split(",")))
        failures: list[str] = []  # worth another attempt
        unreachable: list[str] = []  # no address for a channel: another attempt will not help
        try:
            contact = await self._contact_of(row.user_id)
        except Exception as exc:
            lookup = [f"contact lookup: {type(exc).__name__}: {exc}"]
            return self._retry_or_fail(row, settings, lookup, row.delivered, now)
        if contact is None:
            return {"status": "failed", "last_error": "no such user", "finished_at": now}
        for channel in channels:
            if channel in delivered:
                continue
            address = contact.email if channel == "email" else contact.phone
            if not address:
                unreachable.append(f"{channel}: the user has no address")
                continue
            problem = await self._send(channel, address, contact, row, settings)
            if problem is None:
                delivered.add(channel)
            else:
                failures.append(problem)
        done = ",".join(sorted(delivered))
        errors = failures + unreachable
        if not failures:
            status = "sent" if delivered else "logged"
            return {"status": status, "delivered": done, "last_error": "; ".join(errors), "finished_at": now}
        return self._retry_or_fail(row, settings, errors, done, now)

    @staticmethod
    def _retry_or_fail(
        row: Row[Any], settings: NotificationSettings, errors: list[str], done: str, now: float
    ) -> dict[str, Any]:
        """Another attempt later (doubling the wait), or failed for good after `max_attempts`."""
        attempts = row.attempts + 1
        if attempts >= settings.max_attempts:
            log.warning("notification failed for good", extra={"id": row.id, "errors": errors})
            return {
                "status": "failed",
                "attempts": attempts,
                "delivered": done,
                "last_error": "; ".join(errors),
                "finished_at": now,
            }
        delay = min(settings.retry_base_seconds * 2 ** (attempts - 1), settings.retry_max_seconds)
        return {
            "attempts": attempts,
            "delivered": done,
            "last_error": "; ".join(errors),
            "next_attempt_at": now + delay,
        }
