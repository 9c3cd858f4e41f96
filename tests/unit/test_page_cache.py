"""The catalogue's page cache: one computation per query at a time, dropped on writes."""

from __future__ import annotations

import asyncio

import pytest

from services.course_data.page_cache import CachedPage, PageCache


async def test_concurrent_misses_share_one_computation_and_clear_drops_it() -> None:
    cache = PageCache(lambda: 60.0)
    calls = 0
    release = asyncio.Event()

    async def compute() -> CachedPage:
        nonlocal calls
        calls += 1
        await release.wait()
        return CachedPage.of({"n": calls})

    waiting = [asyncio.ensure_future(cache.get("k", compute)) for _ in range(20)]
    await asyncio.sleep(0)
    release.set()
    pages = await asyncio.gather(*waiting)
    assert calls == 1
    assert {p.body for p in pages} == {b'{"n":1}'}
    assert (await cache.get("k", compute)).body == b'{"n":1}'  # served from memory
    cache.clear()
    assert (await cache.get("k", compute)).body == b'{"n":2}'
    assert CachedPage.of({"n": 2}).etag == (await cache.get("k", compute)).etag


async def test_a_failed_computation_is_not_kept_and_zero_seconds_means_no_cache() -> None:
    seconds = 60.0
    cache = PageCache(lambda: seconds)
    attempts = 0

    async def flaky() -> CachedPage:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("database went away")
        return CachedPage.of([attempts])

    with pytest.raises(RuntimeError):
        await cache.get("k", flaky)
    assert (await cache.get("k", flaky)).body == b"[2]"
    seconds = 0
    assert (await cache.get("k", flaky)).body == b"[3]"
    assert (await cache.get("k", flaky)).body == b"[4]"
