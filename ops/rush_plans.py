"""A rush of plans (issue 16): students save a plan before the opening, then submit it at
once (`POST /student/plan/submit`), as careful clients would; and what became of every item.

Shared by the rush benchmark's plan variant (`ops/bench/rush.py --plans`) and the cluster
test of plans in a rush. An item's requests form a chain in Redis: the request queued for
it, then (each refused one naming it in `next`) the alternative queued in its place.
`follow` reads each chain to its end and counts what must never happen.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis

from cluster.config import ClusterConfig
from ops.drill.checker import FINAL
from ops.rush import until_answered
from ops.tokens import issue, signing_key
from services.queue import keys


@dataclass(frozen=True)
class PreparedPlan:
    student_id: int
    token: str
    key: str
    items: tuple[tuple[int, ...], ...]  # each item: its course, then its alternatives

    @property
    def body(self) -> dict[str, Any]:
        """The plan as `PUT /student/plan` takes it."""
        return {"items": [{"course_id": c[0], "alternatives": list(c[1:])} for c in self.items]}


def prepare_plans(
    config: ClusterConfig,
    students: int,
    courses: list[int],
    per_student: int,
    alternatives: int = 1,
    seed: int = 11,
    first_student: int = 200_000,
) -> list[PreparedPlan]:
    """Each student's plan: `per_student` items among the courses, in a random order, each
    with up to `alternatives` of the other courses (a course once per plan); shuffled."""
    key = signing_key(config)
    chooser = random.Random(seed)
    made = []
    for n in range(students):
        student_id = first_student + n
        picked = chooser.sample(courses, len(courses))
        count = min(per_student, len(picked))
        own, rest = picked[:count], picked[count:]
        items = tuple((c, *rest[i * alternatives : (i + 1) * alternatives]) for i, c in enumerate(own))
        made.append(
            PreparedPlan(student_id, issue(key, student_id, "student", minutes=30), secrets.token_hex(8), items)
        )
    chooser.shuffle(made)
    return made


async def save_plans(url: str, plans: list[PreparedPlan], concurrency: int = 16, give_up_after: float = 60.0) -> None:
    """Every student saves their plan (`PUT /student/plan`), before the opening; a 503 (a
    dependency busy or between masters) is retried, as a client would."""
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one(p: PreparedPlan) -> None:
            headers = {"Authorization": f"Bearer {p.token}"}
            async with gate:
                answer = await until_answered(
                    lambda _: client.put("/student/plan", json=p.body, headers=headers),
                    [url],
                    itertools.count(),
                    f"the plan of student {p.student_id}",
                    give_up_after,
                    pause=0.2,
                )
            answer.raise_for_status()

        await asyncio.gather(*(one(p) for p in plans))


@dataclass
class PlansTold:
    """What the student service answered: plan key -> each item's request id (None: refused at
    once), and plan key -> the refusal's type for a whole plan refused (409)."""

    items: dict[str, list[str | None]] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)


async def submit_plans(
    urls: list[str], plans: list[PreparedPlan], concurrency: int = 16, give_up_after: float = 60.0
) -> PlansTold:
    """Submit every plan until a student node answers it for good (202, or 409 refused), retrying a
    refusal to record (503) or a dead node on the next node with the same Idempotency-Key."""
    gate = asyncio.Semaphore(concurrency)
    told = PlansTold()
    turn = itertools.count()
    async with httpx.AsyncClient(timeout=15) as client:

        async def one(p: PreparedPlan) -> None:
            headers = {"Authorization": f"Bearer {p.token}", "Idempotency-Key": p.key}
            async with gate:
                answer = await until_answered(
                    lambda url: client.post(f"{url}/student/plan/submit", headers=headers),
                    urls,
                    turn,
                    f"plan {p.key}",
                    give_up_after,
                )
            if answer.status_code == 202:
                told.items[p.key] = [r["queue_request_id"] for r in answer.json()["requests"]]
            elif answer.status_code == 409:
                told.refused[p.key] = answer.json()["type"].rpartition("/")[2]
            else:
                raise RuntimeError(f"refused: {answer.status_code} {answer.text[:200]}")

        await asyncio.gather(*(one(p) for p in plans))
    return told


def plans_answered(redis_url: str) -> int:
    """Plans the queue has answered for good (admitted, or refused and recorded under their key)."""
    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.get(keys.PLANS) or 0)
    finally:
        client.close()


def follow(redis_url: str, told: PlansTold) -> dict[str, Any]:
    """Each item's chain of requests to its end: the final outcomes, and the checks (counts that
    must be 0): an item told taken that Redis does not know, a chain not ended final, a chain
    refused with alternatives left, a request in two chains."""
    client = redis.Redis.from_url(redis_url)
    ends: dict[str, int] = {}
    checks = {"item_told_taken_but_lost": 0, "item_without_final_outcome": 0, "refused_with_alternatives_left": 0}
    seen: set[str] = set()
    fallbacks = 0
    try:
        for ids in told.items.values():
            for first in ids:
                if first is None:
                    ends["refused_at_once"] = ends.get("refused_at_once", 0) + 1
                    continue
                rid: str | None = first
                record: dict[str, str] = {}
                while rid is not None:
                    raw: Any = client.hgetall(keys.record_key(rid))
                    record = {k.decode(): v.decode() for k, v in raw.items()}
                    if not record:
                        checks["item_told_taken_but_lost"] += 1
                        break
                    checks.setdefault("request_in_two_chains", 0)
                    checks["request_in_two_chains"] += rid in seen
                    seen.add(rid)
                    rid = record.get("next") or None
                    fallbacks += rid is not None
                if not record:
                    continue
                if record["status"] not in FINAL:
                    checks["item_without_final_outcome"] += 1
                elif record["status"] == "rejected" and record.get("alternatives"):
                    checks["refused_with_alternatives_left"] += 1
                ends[record["status"]] = ends.get(record["status"], 0) + 1
    finally:
        client.close()
    checks.setdefault("request_in_two_chains", 0)
    return {"items": sum(len(i) for i in told.items.values()), "fallbacks": fallbacks, "ends": ends, "checks": checks}


def plans_told(redis_url: str) -> PlansTold:
    """The plans as the queue recorded them under their keys (a load tool that keeps no answers,
    wrk, is checked this way): plan key -> each item's request id, or the refusal's type."""
    client = redis.Redis.from_url(redis_url)
    told = PlansTold()
    try:
        for key in client.scan_iter(f"{keys.PLAN_KEY_PREFIX}*", count=1000):
            raw: Any = client.get(key)
            name, text = key.decode(), raw.decode()
            if text.startswith("!"):
                told.refused[name] = json.loads(text[1:])["type"]
            else:
                items = json.loads(text)
                told.items[name] = [i["queue_request_id"] or None for i in items] if isinstance(items, list) else []
    finally:
        client.close()
    return told
