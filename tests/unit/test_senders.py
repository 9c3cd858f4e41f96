"""Email leaves through a real SMTP server: the recipient is the address field, never the name."""

from __future__ import annotations

import pytest

from cluster.settings import NotificationSettings
from services.common.senders import Contact, send_email
from tests.conftest import MailCatcher


def _settings(port: int) -> NotificationSettings:
    return NotificationSettings(email_enabled=True, smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)


@pytest.mark.parametrize(
    "name",
    ["Eve <eve@evil.test>, Bob", "Bob\r\nBcc: eve@evil.test", 'Bob" <eve@evil.test>, "x', "eve@evil.test"],
)
async def test_a_name_cannot_add_recipients(smtp_server: MailCatcher, name: str) -> None:
    await send_email(_settings(smtp_server.port), Contact(name, "bob@example.edu", None), "Hello", "Hi.")
    assert smtp_server.envelopes == [["bob@example.edu"]]
    [message] = smtp_server.messages
    assert [a.addr_spec for a in message["To"].addresses] == ["bob@example.edu"]
    assert message["Bcc"] is None
    assert message["Cc"] is None


async def test_a_plain_name_reads_as_before(smtp_server: MailCatcher) -> None:
    await send_email(_settings(smtp_server.port), Contact("Ada Lovelace", "ada@example.edu", None), "Hello", "Hi.")
    assert smtp_server.messages[0]["To"] == "Ada Lovelace <ada@example.edu>"
