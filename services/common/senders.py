"""How a notification leaves the building: email over SMTP, SMS through a provider.

Both take their configuration from the replicated `notifications` settings at each send,
so a settings change applies to the next message. An SMS provider is anything with
`send(settings, to, text)`; the HTTP webhook is the one shipped (POST JSON `{to, text}`,
with `Authorization: Bearer <sms_webhook_token>` when a token is set).

A user's name is text they (or an import) chose, never an address list: the To header is
built by `email.utils.formataddr` (which quotes the name), and the envelope goes to the
address field alone, so a name like `Eve <eve@evil.test>, Bob` adds no recipient.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr
from typing import Protocol

import aiosmtplib
import httpx

from cluster.settings import NotificationSettings

SEND_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Contact:
    name: str
    email: str | None
    phone: str | None


class SmsProvider(Protocol):
    async def send(self, settings: NotificationSettings, to: str, text: str) -> None: ...


class WebhookSms:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def send(self, settings: NotificationSettings, to: str, text: str) -> None:
        headers = {"Authorization": f"Bearer {settings.sms_webhook_token}"} if settings.sms_webhook_token else {}
        answer = await self._client.post(
            settings.sms_webhook_url, json={"to": to, "text": text}, headers=headers, timeout=SEND_TIMEOUT_SECONDS
        )
        answer.raise_for_status()


def to_header(contact: Contact) -> str:
    """`"Name" <address>`, the name quoted and its control characters (no header folding) gone."""
    name = "".join(" " if ch.isspace() or not ch.isprintable() else ch for ch in contact.name).strip()
    return formataddr((name, contact.email or ""))


async def send_email(settings: NotificationSettings, contact: Contact, subject: str, text: str) -> None:
    if not contact.email:
        raise ValueError("no email address")
    message = EmailMessage()
    message["From"] = settings.email_from
    message["To"] = to_header(contact)
    message["Subject"] = subject
    message.set_content(text)
    await aiosmtplib.send(
        message,
        recipients=[contact.email],  # never the parsed To header: the name is user-supplied text
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        start_tls=settings.smtp_starttls,
        username=settings.smtp_username or None,
        password=settings.smtp_password or None,
        timeout=SEND_TIMEOUT_SECONDS,
    )
