"""Fixtures of the unit tests that talk to the suite's real Redis (`redis_url`, tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from services.queue.store import QueueStore


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client of an emptied Redis, emptied again afterwards."""
    client = Redis.from_url(redis_url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.flushdb()
        await client.aclose()


@pytest.fixture
async def store(redis: Redis) -> QueueStore:
    """The queue's store on that Redis, its streams prepared."""
    queue = QueueStore(redis)
    await queue.prepare()
    return queue
