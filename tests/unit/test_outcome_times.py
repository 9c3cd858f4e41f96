"""The last minute's time from admission to outcome (`/queue/stats`' p50 and p99), with clocks injected."""

from __future__ import annotations

import pytest

from cluster.settings import QueueSettings
from services.queue.decider import Decider
from services.queue.outcome_times import OutcomeTimes
from services.queue.records import Admission
from services.queue.stats import QueueStats
from tests.kit.queue_store import MemoryStore
from tests.kit.waiting import eventually
from tests.unit.test_decider import Ledger, running


def ask(n: int) -> Admission:
    return Admission(f"rq{n:06d}", n, None, "enroll", 7, None, f"s{n}", 2, f"k{n}")


def test_the_quantiles_are_the_waits_recorded_within_a_percent() -> None:
    now = [1000.0]
    waits = OutcomeTimes(clock=lambda: now[0])
    assert waits.quantiles() == {"decisions": 0, "p50": None, "p99": None}
    waits.record([0.01 * k for k in range(1, 101)])  # 10 ms .. 1 s, one each
    figures = waits.quantiles()
    assert figures["decisions"] == 100
    assert figures["p50"] == pytest.approx(0.50, rel=0.01)
    assert figures["p99"] == pytest.approx(0.99, rel=0.01)


def test_only_the_last_minute_counts() -> None:
    now = [1000.0]
    waits = OutcomeTimes(clock=lambda: now[0])
    waits.record([30.0] * 20)  # a slow start
    now[0] = 1030.0
    waits.record([0.5] * 980)
    assert waits.quantiles()["p99"] == pytest.approx(30.0, rel=0.01)  # the slow 2 % are past the 99th
    now[0] = 1060.5  # the first second has left the window
    figures = waits.quantiles()
    assert (figures["decisions"], figures["p99"]) == (980, pytest.approx(0.5, rel=0.01))
    now[0] = 1091.0
    assert waits.quantiles() == {"decisions": 0, "p50": None, "p99": None}


def test_a_wait_from_clocks_apart_counts_as_nothing() -> None:
    waits = OutcomeTimes(clock=lambda: 5.0)
    waits.record([-0.2])
    assert waits.quantiles() == {"decisions": 1, "p50": 0.0, "p99": 0.0}


async def test_requests_decided_with_known_delays_give_the_expected_percentiles_in_the_stats() -> None:
    """98 requests admitted at 100.0 and 2 at 90.0, all decided at 100.25: p50 is 0.25 s, p99 10.25 s."""
    store, ledger, now = MemoryStore(), Ledger(), [500.0]
    waits = OutcomeTimes(clock=lambda: now[0])
    await store.admit([ask(n) for n in (1, 2)], 90.0)
    await store.admit([ask(n) for n in range(3, 101)], 100.0)
    rules = QueueSettings(batch_size=50)
    decider = Decider(store, "queue-1", lambda: rules, lambda: True, ledger, waits, wall=lambda: 100.25)
    stats = QueueStats(store, clock=lambda: now[0], wall=lambda: 100.25, outcome_times=waits)
    assert (await stats.read())["p99_to_outcome_seconds"] is None  # nothing decided yet
    async with running(decider):
        await eventually(lambda: decider.state.decided == 100, 5, "every request decided")
    snap = await stats.read()
    assert snap["decided_last_minute"] == 100
    assert snap["p50_to_outcome_seconds"] == pytest.approx(0.25, rel=0.01)
    assert snap["p99_to_outcome_seconds"] == pytest.approx(10.25, rel=0.01)
    gauges = {m.name: m.samples[0].value for m in stats.collect()}
    assert gauges["queue_p99_to_outcome_seconds"] == snap["p99_to_outcome_seconds"]
