"""The notification outbox against a real SMTP server: delivery, retries with backoff, giving up."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cluster.errors import LeaseNotHeldError
from cluster.master_writer import STEP_DOWN_REASON, MasterWriter
from cluster.settings import NotificationSettings
from services.common.outbox import Outbox, notify
from services.common.senders import Contact, WebhookSms
from storage.database import Database
from storage.errors import StaleEpochError
from storage.migrations import migrate
from storage.schemas.core import MIGRATIONS, outbox
from tests.conftest import MailCatcher
from tests.support import free_port

ADA = Contact("Ada Lovelace", "ada@example.edu", "+15550001")


class Harness:
    def __init__(self, db: Database, settings: NotificationSettings) -> None:
        self.now = 1_000.0
        self.settings = settings
        self.master = True
        self.epoch = 1
        self.step_downs: list[str] = []
        self.sms_sent: list[dict[str, Any]] = []
        self.sms_failures = 0
        self.contacts: dict[int, Contact] = {1: ADA, 2: Contact("No Phone", "np@example.edu", None)}
        self.db = db

        def webhook(request: httpx.Request) -> httpx.Response:
            if self.sms_failures > 0:
                self.sms_failures -= 1
                return httpx.Response(502)
            self.sms_sent.append({"auth": request.headers.get("authorization"), **json.loads(request.content)})
            return httpx.Response(200)

        async def contact_of(user_id: int) -> Contact | None:
            return self.contacts.get(user_id)

        self.client = httpx.AsyncClient(transport=httpx.MockTransport(webhook))
        self.outbox = Outbox(
            MasterWriter(db, self), lambda: self.settings, contact_of, WebhookSms(self.client), lambda: self.now
        )

    def fence(self) -> tuple[str, int]:
        if not self.master:
            raise LeaseNotHeldError("not the master")
        return ("tests", self.epoch)

    def step_down(self, reason: str) -> None:
        self.step_downs.append(reason)
        self.master = False

    async def queue(self, user_id: int, subject: str = "You are enrolled in CS101") -> None:
        async with self.db.write() as conn:
            await notify(conn, user_id, "waitlist-promotion", subject, "A seat became free.", self.now)

    async def rows(self) -> list[Any]:
        async with self.db.read() as conn:
            return list((await conn.execute(select(outbox).order_by(outbox.c.id))).all())


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}")
    await migrate(database, MIGRATIONS)
    yield database
    await database.close()


def mail(port: int, **extra: Any) -> NotificationSettings:
    values = {"email_enabled": True, "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_starttls": False}
    return NotificationSettings.model_validate({**values, **extra})


async def test_nothing_configured_records_and_logs_the_message(db: Database) -> None:
    harness = Harness(db, NotificationSettings())
    await harness.queue(1)
    assert await harness.outbox.deliver_due() == 1
    assert [r.status for r in await harness.rows()] == ["logged"]
    assert await harness.outbox.deliver_due() == 0


async def test_mail_reaches_the_smtp_server_and_a_failing_sms_is_retried_alone(
    db: Database, smtp_server: MailCatcher
) -> None:
    settings = mail(
        smtp_server.port,
        sms_enabled=True,
        sms_webhook_url="http://sms.invalid/send",
        sms_webhook_token="t0ken",
        retry_base_seconds=10,
    )
    harness = Harness(db, settings)
    harness.sms_failures = 1
    await harness.queue(1)
    await harness.outbox.deliver_due()
    [row] = await harness.rows()
    assert (row.status, row.attempts, row.delivered, row.next_attempt_at) == ("pending", 1, "email", 1_010.0)
    assert "sms" in row.last_error
    assert [str(m["Subject"]) for m in smtp_server.to("ada@example.edu")] == ["You are enrolled in CS101"]
    assert smtp_server.messages[0].get_content().strip() == "A seat became free."
    assert await harness.outbox.deliver_due() == 0  # not due yet
    harness.now += 10
    assert await harness.outbox.deliver_due() == 1
    [row] = await harness.rows()
    assert (row.status, row.delivered) == ("sent", "email,sms")
    assert len(smtp_server.messages) == 1  # the email was not sent twice
    assert harness.sms_sent == [
        {"auth": "Bearer t0ken", "to": "+15550001", "text": "You are enrolled in CS101: A seat became free."}
    ]


async def test_backoff_doubles_then_the_message_is_marked_failed(db: Database) -> None:
    closed = free_port()  # nothing listens here
    harness = Harness(db, mail(closed, retry_base_seconds=1, retry_max_seconds=3, max_attempts=4))
    await harness.queue(1)
    delays = []
    for _ in range(3):
        await harness.outbox.deliver_due()
        [row] = await harness.rows()
        delays.append(row.next_attempt_at - harness.now)
        harness.now = row.next_attempt_at
    assert delays == [1, 2, 3]  # doubling, capped at retry_max_seconds
    await harness.outbox.deliver_due()
    [row] = await harness.rows()
    assert (row.status, row.attempts) == ("failed", 4)
    assert "email" in row.last_error


async def test_a_delivery_refused_by_fencing_steps_the_node_down(db: Database) -> None:
    harness = Harness(db, NotificationSettings())
    await harness.queue(1)
    async with db.write(fence=("tests", 2)):  # a newer master has written
        pass
    with pytest.raises(StaleEpochError):
        await harness.outbox.deliver_due()
    assert harness.step_downs == [STEP_DOWN_REASON]
    assert [r.status for r in await harness.rows()] == ["pending"]  # the next master sends it


async def test_unknown_users_missing_addresses_and_non_masters(db: Database, smtp_server: MailCatcher) -> None:
    harness = Harness(db, mail(smtp_server.port, sms_enabled=True, sms_webhook_url="http://sms.invalid/"))
    await harness.queue(99)  # no such user
    await harness.queue(2)  # no phone: the email goes, the SMS cannot
    harness.master = False
    with pytest.raises(LeaseNotHeldError):
        await harness.outbox.deliver_due()
    assert [r.status for r in await harness.rows()] == ["pending", "pending"]
    harness.master = True
    await harness.outbox.deliver_due()
    gone, no_phone = await harness.rows()
    assert (gone.status, gone.last_error) == ("failed", "no such user")
    assert (no_phone.status, no_phone.delivered) == ("sent", "email")
    assert "no address" in no_phone.last_error
    assert [m["To"] for m in smtp_server.messages] == ["No Phone <np@example.edu>"]
    assert harness.sms_sent == []
