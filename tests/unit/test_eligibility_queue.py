"""The queue's side of eligibility, on a real redis-server: admission applies the window rule
to the student's standing (a time ticket, a priority group), a closed window's refusal says
when it opens, the same key gets that same refusal again, and the stream entry carries the
standing to the ledger."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import pytest
from redis.asyncio import Redis

from cluster.settings import QueueSettings
from services.common.enrollment_contract import QueuedRequest, ledger_request_of
from services.common.registration import Standing
from services.queue.admission import Admitter, WindowRefused
from services.queue.keys import STREAMS
from services.queue.records import Admitted
from services.queue.store import QueueStore
from services.queue.windows import WindowCache

NOW = time.time()
LATER = NOW + 3600


def admitter(store: QueueStore, windows: list[dict[str, Any]]) -> Admitter:
    async def fetch() -> list[dict[str, Any]]:
        return windows

    settings = QueueSettings(student_rate_limit="10000 per minute")
    return Admitter(store, WindowCache(fetch, seconds=3600), lambda: settings)


def window(opens: float, **audience: Any) -> dict[str, Any]:
    return {"cohort": None, "opens_at": opens, "closes_at": opens + 7200, "drop_deadline": opens + 7200, **audience}


BODY = {"action": "enroll", "course_id": 7}


async def test_a_ticket_admits_one_student_and_the_others_learn_when_they_open(store: QueueStore) -> None:
    node = admitter(store, [window(LATER, cohort=2024), window(NOW - 60, student_id=1)])
    mine = await node.admit(1, Standing(2024), "s1", "k-1", BODY, now=NOW)
    assert isinstance(mine, Admitted)
    with pytest.raises(WindowRefused) as refused:
        await node.admit(2, Standing(2024), "s2", "k-2", BODY, now=NOW)
    assert refused.value.slug == "window-closed"
    opens = refused.value.extra["opens_at"]
    assert abs(datetime.fromisoformat(opens).timestamp() - LATER) < 1
    assert opens in refused.value.detail
    # Another node that thinks every window is open answers the same key the same refusal, opens_at too.
    other = admitter(store, [window(NOW - 60)])
    with pytest.raises(WindowRefused) as again:
        await other.admit(2, Standing(2024), "s2", "k-2", BODY, now=NOW)
    assert (again.value.slug, again.value.extra["opens_at"]) == ("window-closed", opens)


async def test_a_priority_groups_window_and_the_standing_reach_the_ledger(store: QueueStore, redis: Redis) -> None:
    node = admitter(store, [window(LATER), window(NOW - 60, priority_group="final-year")])
    standing = Standing(2023, "CS", 4, "final-year")
    assert isinstance(await node.admit(3, standing, "s3", "k-3", BODY, now=NOW), Admitted)
    with pytest.raises(WindowRefused):
        await node.admit(4, Standing(2023, "CS", 3), "s4", "k-4", BODY, now=NOW)
    entries = [e for stream in STREAMS for e in await redis.xrange(stream)]
    [(_, fields)] = entries
    request = QueuedRequest.model_validate(ledger_request_of(json.loads(fields[b"r"])))
    assert request.standing == standing
