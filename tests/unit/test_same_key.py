"""The same Idempotency-Key always gets the same answer, on a real redis-server: many clicks
at once, across bursts and across queue nodes, while the course fills and frees and while
the nodes disagree on whether the window is open."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from cluster.settings import QueueSettings
from services.common.problems import ProblemError
from services.queue.admission import Admitter, WindowRefused
from services.queue.records import Admitted, Refused
from services.queue.store import QueueStore
from services.queue.windows import WindowCache

COURSE = 7
FULL = {"type": "waitlist-full", "reason": "C7 is full and so is its waitlist"}
CLICKS = 20


def admitter(store: QueueStore, window_open: bool | None) -> Admitter:
    now = time.time()

    async def windows() -> list[dict[str, Any]]:
        if window_open is None:  # course_data not reached yet: admission leaves the window to the ledger
            raise ConnectionError("course_data unreachable")
        opens = now - 3600 if window_open else now + 3600
        return [{"cohort": None, "opens_at": opens, "closes_at": opens + 7200, "drop_deadline": opens + 7200}]

    settings = QueueSettings(student_rate_limit="10000 per minute")
    return Admitter(store, WindowCache(windows, seconds=3600), lambda: settings)


async def click(node: Admitter, key: str) -> tuple[str, str]:
    """One click's answer, as the student sees it: queued (with the request id) or refused (with the type)."""
    body = {"action": "enroll", "course_id": COURSE}
    try:
        answer = await node.admit(1, None, "s1", key, body)
    except ProblemError as exc:
        return ("refused", exc.slug)
    if isinstance(answer, Refused):
        return ("refused", answer.type)
    assert isinstance(answer, Admitted)
    return ("queued", answer.queue_request_id)


async def set_full(store: QueueStore, full: bool) -> None:
    """The ledger reports the course full, or open again (a seat freed)."""
    if full:
        await store.redis.set(f"q:full:{COURSE}", json.dumps(FULL), px=30_000)
    else:
        await store.redis.delete(f"q:full:{COURSE}")


async def test_clicks_at_once_with_one_key_get_one_answer_while_the_course_fills_and_frees(store: QueueStore) -> None:
    nodes = [admitter(store, None), admitter(store, None)]  # two queue nodes, one Redis
    answers: list[tuple[str, str]] = []
    for full in (True, False, True, False):  # the course full, then a seat freed, and again
        await set_full(store, full)
        answers += await asyncio.gather(*(click(nodes[i % 2], "double-click") for i in range(CLICKS)))
    assert set(answers) == {("refused", FULL["type"])}, sorted(set(answers))
    assert int(await store.redis.get("q:admitted") or 0) == 0  # nothing queued under the refused key

    for full in (False, True):  # a key whose first answer was a request keeps it, full or not
        await set_full(store, full)
        answers = await asyncio.gather(*(click(nodes[i % 2], "queued-key") for i in range(CLICKS)))
        assert len(set(answers)) == 1, sorted(set(answers))
        assert answers[0][0] == "queued"
    assert int(await store.redis.get("q:admitted") or 0) == 1


async def test_nodes_that_disagree_on_the_window_give_one_key_one_answer(store: QueueStore) -> None:
    closed, opened = admitter(store, False), admitter(store, True)  # one node's clock or cache is behind
    for first, then in ((closed, opened), (opened, closed)):
        key = f"k-{id(first)}"
        answers = await asyncio.gather(*(click(first, key) for _ in range(CLICKS)))
        answers += await asyncio.gather(*(click(then, key) for _ in range(CLICKS)))
        assert len(set(answers)) == 1, sorted(set(answers))
    with pytest.raises(WindowRefused):  # the window refusal keeps its own problem type
        await closed.admit(1, None, "s1", "another", {"action": "enroll", "course_id": COURSE})
