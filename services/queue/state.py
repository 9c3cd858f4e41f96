"""What a queue node runs for its lifetime: admission, the decider (on the master), waiters, stats."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.requests import Request

from cluster.errors import InternalCallRefusedError, MasterUnknownError
from services.common.background import run_in_background
from services.common.calls import DependencyUnavailable
from services.common.context import NodeContext, context_of
from services.common.plan_contract import READ_MAX
from services.queue.admission import Admitter
from services.queue.decider import Decider
from services.queue.outcome_times import OutcomeTimes
from services.queue.plans import Items, PlanReader
from services.queue.stats import QueueStats
from services.queue.store import QueueStore
from services.queue.waiters import Waiters
from services.queue.windows import WindowCache, course_data_windows

# One ledger call's bound: a master gone without closing its connections costs this much, then
# the batch is sent again (to the new master; a batch applied twice counts once).
LEDGER_CALL_SECONDS = 10.0


@dataclass(frozen=True)
class QueueNode:
    store: QueueStore
    admitter: Admitter
    waiters: Waiters
    decider: Decider
    stats: QueueStats
    plans: PlanReader


def queue_of(request: Request) -> QueueNode:
    return context_of(request).state(QueueNode)


async def start_queue(ctx: NodeContext, stack: AsyncExitStack) -> QueueNode:
    assert ctx.redis is not None  # the spec asks for Redis
    # its consumer group is made by the decider (Redis may be down now); with sentinels an
    # admission is answered, and a batch decided, once every replica has it
    redis_settings = ctx.config.redis
    replicas = redis_settings.replicas if redis_settings.sentinels else 0
    store = QueueStore(ctx.redis, replicas, redis_settings.replica_wait_seconds)
    client = ctx.cluster.client

    async def fetch_plans(student_ids: list[int]) -> dict[int, Items]:
        found: dict[int, Items] = {}
        for start in range(0, len(student_ids), READ_MAX):
            chunk = {"student_ids": student_ids[start : start + READ_MAX]}
            try:
                answer = await client.call_master("course_data", "POST", "/internal/plans/read", json=chunk, timeout=5)
            except (MasterUnknownError, httpx.HTTPError) as exc:
                raise DependencyUnavailable(
                    f"the saved plans cannot be read ({type(exc).__name__}): nothing was queued; send it again",
                    headers={"Retry-After": "1"},
                ) from None
            if answer.status_code != 200:
                raise DependencyUnavailable(
                    f"the saved plans cannot be read (course_data answered {answer.status_code}): nothing was "
                    "queued; send it again",
                    headers={"Retry-After": "1"},
                )
            for plan in answer.json()["plans"]:
                found[plan["student_id"]] = [[i["course_id"], *i["alternatives"]] for i in plan["items"]]
        return found

    async def call_ledger(batch: dict[str, Any]) -> bytes:
        answer = await client.call_master(
            "course_data", "POST", "/internal/ledger/batch", json=batch, timeout=LEDGER_CALL_SECONDS
        )
        if answer.status_code != 200:
            raise InternalCallRefusedError("the ledger", answer.status_code, answer.text)
        return answer.content

    settings = lambda: ctx.cluster.settings().queue  # noqa: E731
    waits = OutcomeTimes()  # the decider records, the stats read
    node = QueueNode(
        store,
        Admitter(store, WindowCache(course_data_windows(client)), settings),
        Waiters(store),
        Decider(store, ctx.node.id, settings, ctx.cluster.master.is_master, call_ledger, waits),
        QueueStats(store, outcome_times=waits),
        PlanReader(fetch_plans),
    )
    ctx.metrics.registry.register(node.stats)
    run_in_background(stack, node.waiters.listen(), node.waiters.stop)
    run_in_background(stack, node.decider.run(), node.decider.stop)
    run_in_background(stack, node.stats.sample_forever(), node.stats.stop)
    return node
