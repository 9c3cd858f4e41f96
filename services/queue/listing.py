"""A student's own queue requests, newest first (`GET /queue/requests`).

The admit script adds every request it queues to `q:u:<student>`, scored by its admission
number, so a page is one ZREVRANGE and one HGETALL per request on it. A record that has
expired (a week after admission) is dropped from the index when a page meets it.
Refusals at once are not requests (they have no id) and are not listed.
"""

from __future__ import annotations

from pydantic import BaseModel
from redis.asyncio import Redis

from services.common.enrollment_contract import QueuedView
from services.common.pagination import PageRequest
from services.queue.keys import STUDENT_REQUESTS_PREFIX, record_key


def requests_key(student_id: int) -> str:
    return f"{STUDENT_REQUESTS_PREFIX}{student_id}"


async def student_requests(
    redis: Redis, student_id: int, page: PageRequest
) -> tuple[list[tuple[str, dict[str, str]]], int]:
    """(request id, record) of one page of the student's requests, newest first, and how many there are."""
    key = requests_key(student_id)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zcard(key)
        pipe.zrevrange(key, page.offset, page.offset + page.size - 1)
        total, raw_ids = await pipe.execute()
    ids = [i.decode() for i in raw_ids]
    if not ids:
        return [], int(total)
    async with redis.pipeline(transaction=False) as pipe:
        for request_id in ids:
            pipe.hgetall(record_key(request_id))
        records = await pipe.execute()
    found, gone = [], []
    for request_id, raw in zip(ids, records, strict=True):
        if raw:
            found.append((request_id, {k.decode(): v.decode() for k, v in raw.items()}))
        else:
            gone.append(request_id)
    if gone:
        await redis.zrem(key, *gone)
    return found, int(total) - len(gone)


class QueueRequestPage(BaseModel):
    """One page of the student's queue requests, newest first."""

    items: list[QueuedView]
    page: int
    page_size: int
    total: int


LISTING_MODELS: dict[str, type[BaseModel]] = {"QueueRequestPage": QueueRequestPage}
