"""What operators see of the queue: depth, rates, lag, pending entries, the last minute's time
from admission to outcome; also as Prometheus metrics."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.queue.outcome_times import OutcomeTimes
from services.queue.store import QueueStorage

SAMPLE_EVERY_SECONDS = 1.0
RATE_OVER_SECONDS = 5.0


class QueueStats(Collector):
    def __init__(
        self,
        store: QueueStorage,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        outcome_times: OutcomeTimes | None = None,
    ) -> None:
        """`outcome_times`: the waits the decider records (a standby's stay empty)."""
        self._store = store
        self._outcome_times = outcome_times or OutcomeTimes(clock)
        self._clock = clock
        self._wall = wall
        self._samples: deque[tuple[float, int, int, int]] = deque(maxlen=64)
        self.snapshot: dict[str, Any] = {}
        self._stopped = False

    def stop(self) -> None:
        self._stopped = True

    async def sample_forever(self) -> None:
        while not self._stopped:
            try:
                await self.read()
            except Exception as exc:
                self.snapshot = {"error": f"{type(exc).__name__}: {exc}"}
            await asyncio.sleep(SAMPLE_EVERY_SECONDS)

    def _rate(self, index: int) -> float:
        now = self._clock()
        recent = [s for s in self._samples if now - s[0] <= RATE_OVER_SECONDS + 0.5]
        if len(recent) < 2 or recent[-1][0] == recent[0][0]:
            return 0.0
        return round((recent[-1][index] - recent[0][index]) / (recent[-1][0] - recent[0][0]), 1)

    async def read(self) -> dict[str, Any]:
        figures = await self._store.figures()
        self._samples.append((self._clock(), figures.admitted, figures.decided, figures.refused))
        times = [t for f in figures.streams.values() for t in (f.oldest_pending, f.oldest_undelivered) if t]
        oldest = min(times) if times else None
        used, limit = figures.memory_used, figures.memory_limit
        waits = self._outcome_times.quantiles()
        self.snapshot = {
            "admitted": figures.admitted,
            "decided": figures.decided,
            "refused_at_once": figures.refused,
            "depth": figures.admitted - figures.decided,
            "pending_entries": sum(f.pending for f in figures.streams.values()),
            "undelivered_entries": sum(f.undelivered for f in figures.streams.values()),
            "lag_seconds": round(max(0.0, self._wall() - oldest), 3) if oldest else 0.0,
            "admitted_per_second": self._rate(1),
            "decided_per_second": self._rate(2),
            "refused_at_once_per_second": self._rate(3),
            "decided_last_minute": waits["decisions"],
            "p50_to_outcome_seconds": waits["p50"],  # None: nothing decided in the last minute
            "p99_to_outcome_seconds": waits["p99"],
            "redis_memory_used_bytes": used,
            "redis_memory_limit_bytes": limit,  # 0: no limit (an external Redis should have one)
            "redis_memory_used_ratio": round(used / limit, 4) if limit else 0.0,
            "streams": {
                name: {"length": f.length, "pending": f.pending, "undelivered": f.undelivered}
                for name, f in figures.streams.items()
            },
        }
        return self.snapshot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self.snapshot
        for name, key, text in (
            ("queue_admitted", "admitted", "Requests admitted since the queue was created."),
            ("queue_decided", "decided", "Requests with a final outcome (decided or cancelled)."),
            ("queue_refused_at_once", "refused_at_once", "Enrollments refused at admission: course full."),
            ("queue_depth", "depth", "Admitted requests without a final outcome yet."),
            ("queue_pending_entries", "pending_entries", "Stream entries read by a decider, not acknowledged."),
            ("queue_lag_seconds", "lag_seconds", "Age of the oldest request not decided yet."),
            ("queue_admitted_per_second", "admitted_per_second", "Admissions per second (last seconds)."),
            ("queue_decided_per_second", "decided_per_second", "Decisions per second (last seconds)."),
            ("queue_refused_at_once_per_second", "refused_at_once_per_second", "Refusals at once per second."),
            ("queue_decided_last_minute", "decided_last_minute", "Decisions by this master in the last minute."),
            (
                "queue_p50_to_outcome_seconds",
                "p50_to_outcome_seconds",
                "Median time from admission to decision (last minute; absent with none).",
            ),
            (
                "queue_p99_to_outcome_seconds",
                "p99_to_outcome_seconds",
                "99th percentile time from admission to decision (last minute; absent with none).",
            ),
            ("queue_redis_memory_used_bytes", "redis_memory_used_bytes", "Memory Redis uses (INFO used_memory)."),
            ("queue_redis_memory_limit_bytes", "redis_memory_limit_bytes", "Redis maxmemory (0: none set)."),
            (
                "queue_redis_memory_used_ratio",
                "redis_memory_used_ratio",
                "Used over maxmemory: alert well before 1 (then Redis refuses writes and admission answers 503).",
            ),
        ):
            if snap.get(key) is not None:
                yield GaugeMetricFamily(name, text, value=float(snap[key]))
