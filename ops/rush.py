"""A registration rush on a local cluster: preparing it, and checking what it left behind.

Shared by the rush benchmark (`ops/bench/rush.py`, wrk as the load) and the fault tests
(an async client as the load, nodes killed meanwhile). The checks read the truth where
it lives: every request's record in Redis and the ledger's SQLite database.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import secrets
import sqlite3
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from cluster.config import ClusterConfig
from cluster.settings import CourseSettings
from ops.tokens import issue, signing_key

FINAL = ("accepted", "waitlisted", "rejected", "cancelled")


@dataclass(frozen=True)
class Prepared:
    student_id: int
    token: str
    key: str
    course_id: int

    @property
    def body(self) -> str:
        return f'{{"action":"enroll","course_id":{self.course_id}}}'


def create_courses(course_data: str, admin: dict[str, str], count: int, seats: int) -> list[int]:
    """`count` courses of `seats` seats, at different times (a student may take them all)."""
    ids = []
    with httpx.Client(base_url=course_data, headers=admin, timeout=30) as client:
        for i in range(count):
            made = client.post(
                "/courses",
                json={
                    "code": f"RUSH{i:03d}",
                    "title": f"Popular course {i}",
                    "credits": 3,
                    "capacity": seats,
                    "meetings": [{"weekday": i % 5, "start": f"{8 + i // 5:02d}:00", "end": f"{8 + i // 5:02d}:50"}],
                },
            )
            made.raise_for_status()
            ids.append(int(made.json()["id"]))
        now = time.time()
        opened = client.put(
            "/windows", json={"windows": [{"opens_at": now - 60, "closes_at": now + 7200, "drop_deadline": now + 7200}]}
        )
        opened.raise_for_status()
    return ids


def plan(config: ClusterConfig, students: int, courses: list[int], per_student: int, seed: int = 7) -> list[Prepared]:
    """Each student asks for `per_student` of the courses; all requests shuffled (arrival order)."""
    key = signing_key(config)
    chooser = random.Random(seed)
    requests = []
    for n in range(students):
        student_id = 100_000 + n
        token = issue(key, student_id, "student", minutes=30)
        for course_id in chooser.sample(courses, min(per_student, len(courses))):
            requests.append(Prepared(student_id, token, secrets.token_hex(8), course_id))
    chooser.shuffle(requests)
    return requests


@dataclass
class Submitted:
    """What the queue answered: idempotency key -> request id for the requests it took (202),
    idempotency key -> the rule's type for those it refused at once (409, course full)."""

    taken: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)


async def submit_all(
    urls: list[str], prepared: list[Prepared], concurrency: int = 32, give_up_after: float = 60.0
) -> Submitted:
    """Send each request until a queue node answers it for good (202 taken, or 409 refused at
    once), as a careful client would: a refusal to record (503) or a dead node is retried, on
    the next node, with the same Idempotency-Key. Raises if a request was never answered."""
    gate = asyncio.Semaphore(concurrency)
    answered = Submitted()
    turn = itertools.count()
    async with httpx.AsyncClient(timeout=5) as client:

        async def one(p: Prepared) -> None:
            deadline = time.monotonic() + give_up_after
            async with gate:
                while True:
                    url = urls[next(turn) % len(urls)]
                    try:
                        answer = await client.post(
                            f"{url}/queue/requests",
                            content=p.body,
                            headers={
                                "Authorization": f"Bearer {p.token}",
                                "Idempotency-Key": p.key,
                                "Content-Type": "application/json",
                            },
                        )
                        if answer.status_code == 202:
                            answered.taken[p.key] = answer.json()["request_id"]
                            return
                        if answer.status_code == 409 and answer.json().get("outcome") == "rejected":
                            answered.refused[p.key] = answer.json()["type"].rpartition("/")[2]
                            return
                        if answer.status_code not in (502, 503, 504):
                            raise RuntimeError(f"refused: {answer.status_code} {answer.text[:200]}")
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"request {p.key} was never taken")
                    await asyncio.sleep(0.05)

        await asyncio.gather(*(one(p) for p in prepared))
    return answered


def records(redis_url: str) -> list[dict[str, str]]:
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter("q:r:*", count=1000))
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(key)
            found = pipe.execute()
    finally:
        client.close()
    return [
        {"request_id": k.decode()[4:], **{a.decode(): b.decode() for a, b in r.items()}}
        for k, r in zip(keys, found, strict=True)
        if r
    ]


def counters(redis_url: str) -> tuple[int, int, int]:
    """(admitted, decided, refused at once) so far."""
    client = redis.Redis.from_url(redis_url)
    try:
        admitted, decided = client.mget("q:admitted", "q:decided")
        refused = sum(int(n) for n in client.hvals("q:refused"))
    finally:
        client.close()
    return int(admitted or 0), int(decided or 0), refused


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _entry_order(entry: str) -> tuple[int, int]:
    millis, _, seq = entry.partition("-")
    return int(millis), int(seq or 0)


def report(redis_url: str, ledger_db: Path) -> dict[str, Any]:
    """Timing figures and the correctness checks (each a count that must be 0). The rush has no
    drops, so a course full at one moment stays full: a refusal at once for a course left with
    a seat or a waitlist place (the rush keeps the default waitlist length) is wrong."""
    waitlist_max = CourseSettings().waitlist_max_length
    found = records(redis_url)
    client = redis.Redis.from_url(redis_url)
    try:
        refused = {int(k): int(v) for k, v in client.hgetall("q:refused").items()}
        times = {k.decode(): float(v) for k, v in client.hgetall("q:times").items()}
    finally:
        client.close()
    admitted_at = [float(r["at"]) for r in found]
    finals = [r for r in found if r["status"] in FINAL and "decided_at" in r]
    decided_at = [float(r["decided_at"]) for r in finals]
    latencies = [float(r["decided_at"]) - float(r["at"]) for r in finals]
    by_course: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in finals:
        if r["action"] == "enroll" and r.get("seq"):
            by_course[r["course"]].append(r)
    fcfs, timed_out_before_a_place = 0, 0
    for decided in by_course.values():
        highest, timeouts = -1, 0
        for r in sorted(decided, key=lambda r: (int(r.get("priority", 2)), *_entry_order(r["entry"]))):
            seq = int(r["seq"])
            fcfs += seq < highest
            highest = max(highest, seq)
            if r["status"] == "rejected" and r.get("type") == "timeout":
                timeouts += 1
            elif r["status"] in ("accepted", "waitlisted"):
                timed_out_before_a_place += timeouts  # earlier requests timed out, this later one got a place
                timeouts = 0
    with sqlite3.connect(f"file:{ledger_db}?mode=ro", uri=True) as db:
        seats = db.execute(
            "SELECT c.id, c.capacity, c.taken, (SELECT count(*) FROM enrollments e WHERE e.course_id = c.id)"
            " FROM courses c"
        ).fetchall()
        duplicates = db.execute(
            "SELECT count(*) FROM (SELECT 1 FROM enrollments GROUP BY course_id, student_id HAVING count(*) > 1)"
        ).fetchone()[0]
        ledger = dict(db.execute("SELECT request_id, outcome FROM queue_decisions").fetchall())
        waiting = dict(db.execute("SELECT course_id, count(*) FROM waitlist GROUP BY course_id").fetchall())
    outcomes: dict[str, int] = defaultdict(int)
    for r in found:
        outcomes[r["status"] if r["status"] != "rejected" else f"rejected:{r.get('type', '')}"] += 1
    answered = len(found) + sum(refused.values())
    span = times.get("last", 0.0) - times.get("first", 0.0)
    places_left = {cid for cid, capacity, taken, _ in seats if taken < capacity or waiting.get(cid, 0) < waitlist_max}
    return {
        "admitted": len(found),
        "refused_at_once": sum(refused.values()),
        "outcomes": dict(sorted(outcomes.items())),
        "answered_per_s": round(answered / max(1e-6, span), 1) if answered else 0.0,
        "admitted_per_s": round(len(found) / max(1e-6, max(admitted_at) - min(admitted_at)), 1) if found else 0.0,
        "decided_per_s": round(len(finals) / max(1e-6, max(decided_at) - min(admitted_at)), 1) if finals else 0.0,
        "outcome_p50_s": round(_percentile(latencies, 0.50), 4),
        "outcome_p99_s": round(_percentile(latencies, 0.99), 4),
        "drained_after_last_admission_s": round(max(decided_at) - max(admitted_at), 4) if finals else 0.0,
        "checks": {
            "oversold_seats": sum(max(0, count - capacity) for _, capacity, _, count in seats),
            "duplicate_enrollments": duplicates,
            "admitted_without_final_outcome": len(found) - len(finals),
            "fcfs_violations": fcfs,
            "timed_out_before_a_later_place": timed_out_before_a_place,
            "taken_differs_from_enrollments": sum(taken != count for _, _, taken, count in seats),
            "outcome_differs_from_ledger": sum(
                r["status"] != ledger.get(r["request_id"]) for r in finals if r["status"] != "cancelled"
            ),
            "ledger_decisions_without_request": len(set(ledger) - {r["request_id"] for r in found}),
            "refused_with_places_left": sum(n for cid, n in refused.items() if cid in places_left),
            "timed_out_with_places_left": sum(
                r["status"] == "rejected" and r.get("type") == "timeout" and int(r["course"]) in places_left
                for r in finals
            ),
        },
    }
