"""Catalogue answers kept in memory: the registration rush reads the same pages again and again.

An answer (the JSON bytes and its ETag) is cached by its query for a short time
(`course.catalogue_cache_seconds`), and dropped at once when this node commits a write,
so the master, where every change is made, always answers fresh. Another node may answer
up to that many seconds late, which a catalogue can afford: the ledger decides on the
facts of its own transaction, never on a page. Concurrent misses of one query share one
computation.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache

from services.common.instants import render


@dataclass(frozen=True)
class CachedPage:
    body: bytes
    etag: str

    @classmethod
    def of(cls, answer: dict[str, Any] | list[Any]) -> CachedPage:
        body = json.dumps(render(answer), separators=(",", ":"), sort_keys=True).encode()
        return cls(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


class PageCache:
    def __init__(self, seconds: Callable[[], float], max_entries: int = 2048) -> None:
        self._seconds = seconds
        self._max_entries = max_entries
        self._ttl = seconds()
        self._entries: TTLCache[Hashable, asyncio.Future[CachedPage]] = TTLCache(max_entries, self._ttl or 1)

    def clear(self) -> None:
        # A computation already running keeps its callers, but is no longer found by new ones.
        self._entries = TTLCache(self._max_entries, self._ttl or 1)

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[CachedPage]]) -> CachedPage:
        ttl = self._seconds()
        if ttl != self._ttl:  # the setting changed: start over with the new lifetime
            self._ttl = ttl
            self.clear()
        if ttl <= 0:
            return await compute()
        entries = self._entries
        found = entries.get(key)
        if found is None:
            found = asyncio.ensure_future(compute())
            entries[key] = found
            found.add_done_callback(lambda f: _forget_failure(entries, key, f))
        return await asyncio.shield(found)


def _forget_failure(
    entries: TTLCache[Hashable, asyncio.Future[CachedPage]], key: Hashable, f: asyncio.Future[CachedPage]
) -> None:
    if (f.cancelled() or f.exception() is not None) and entries.get(key) is f:
        del entries[key]
