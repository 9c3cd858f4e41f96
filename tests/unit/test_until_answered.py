"""The careful client of the rush tools (`ops.rush.until_answered`): a refusal to record is sent
again on the next node, after the fixed pause or, when asked, the refusal's Retry-After."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable

import httpx
import pytest

from ops import rush


def answers(*statuses: tuple[int, str | None]) -> tuple[list[str], Callable[[str], Awaitable[httpx.Response]]]:
    sent: list[str] = []
    queue = list(statuses)

    async def send(url: str) -> httpx.Response:
        sent.append(url)
        status, retry_after = queue.pop(0)
        return httpx.Response(status, headers={"retry-after": retry_after} if retry_after else {})

    return sent, send


@pytest.mark.parametrize(
    ("cap", "expected"),
    [(0.0, [0.05, 0.05, 0.05]), (5.0, [3.0, 5.0, 0.05])],  # (capped at 5; an HTTP date counts as none)
)
def test_a_refusal_is_sent_again_on_the_next_node_after_the_pause_or_its_retry_after(
    monkeypatch: pytest.MonkeyPatch, cap: float, expected: list[float]
) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(rush.asyncio, "sleep", sleep)
    sent, send = answers((503, "3"), (503, "60"), (503, "Wed, 21 Oct 2026 07:28:00 GMT"), (202, None))
    answer = asyncio.run(rush.until_answered(send, ["a", "b"], itertools.count(), "r", 60, retry_after_cap=cap))
    assert answer.status_code == 202
    assert sent == ["a", "b", "a", "b"]
    assert waits == expected
