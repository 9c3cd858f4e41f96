"""A registration rush on a local cluster: preparing it, sending it as careful clients would.

Shared by the rush benchmark (`ops/bench/rush.py`, wrk as the load), the fault tests and
the drills (`ops/drill`; an async client as the load, faults struck meanwhile). What the
clients were told is checked against Redis and the ledger by `ops.drill.checker`
(re-exported here: `report`, `records`, `counters`).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import httpx

from cluster.config import ClusterConfig
from ops.drill.checker import FINAL, Told, counters, records, report
from ops.tokens import issue, signing_key

__all__ = [
    "FINAL",
    "Offering",
    "Prepared",
    "Submitted",
    "Told",
    "counters",
    "create_courses",
    "create_offerings",
    "plan",
    "plan_groups",
    "read_outcomes",
    "records",
    "report",
    "submit_all",
    "until_answered",
]


@dataclass(frozen=True)
class Prepared:
    student_id: int
    token: str
    key: str
    course_id: int
    section_ids: tuple[int, ...] = ()  # a section group (course_id: its first section)
    drop_course_id: int | None = None  # a swap from this course into course_id

    @property
    def body(self) -> str:
        if self.section_ids:
            return f'{{"action":"enroll","section_ids":[{",".join(map(str, self.section_ids))}]}}'
        if self.drop_course_id is not None:
            return f'{{"action":"swap","course_id":{self.course_id},"drop_course_id":{self.drop_course_id}}}'
        return f'{{"action":"enroll","course_id":{self.course_id}}}'


@dataclass(frozen=True)
class Offering:
    """A course of sections: its lecture and its labs (each taken with the lecture)."""

    lecture: int
    labs: tuple[int, ...]


def create_courses(course_data: str, admin: dict[str, str], count: int, seats: int, prefix: str = "RUSH") -> list[int]:
    """`count` courses of `seats` seats, at different times (a student may take them all)."""
    ids = []
    with httpx.Client(base_url=course_data, headers=admin, timeout=120) as client:
        for i in range(count):
            made = client.post(
                "/courses",
                json={
                    "code": f"{prefix}{i:03d}",
                    "title": f"Popular course {i}",
                    "credits": 3,
                    "capacity": seats,
                    "meetings": [{"weekday": i % 5, "start": f"{8 + i // 5:02d}:00", "end": f"{8 + i // 5:02d}:50"}],
                },
            )
            made.raise_for_status()
            ids.append(int(made.json()["id"]))
        open_registration(client)
    return ids


def open_registration(client: httpx.Client) -> None:
    """One window for everyone, open from a minute ago for two hours."""
    now = time.time()
    window = {"opens_at": now - 60, "closes_at": now + 7200, "drop_deadline": now + 7200}
    client.put("/windows", json={"windows": [window]}).raise_for_status()


def create_offerings(
    course_data: str, admin: dict[str, str], count: int, seats: int, labs: int = 2, prefix: str = "SECT"
) -> list[Offering]:
    """`count` offerings, each a lecture of `seats` seats and `labs` labs sharing them (the first
    lab linked to the lecture, the others not), at times no other offering uses."""
    made: list[Offering] = []
    with httpx.Client(base_url=course_data, headers=admin, timeout=30) as client:

        def section(i: int, name: str, kind: str, capacity: int, hour: int, linked_to: int | None) -> int:
            body = {
                "code": f"{prefix}{i:03d}",
                "section": name,
                "kind": kind,
                "title": f"Popular course {i}",
                "credits": 3,
                "capacity": capacity,
                "linked_to": linked_to,
                "meetings": [{"weekday": i % 5, "start": f"{hour:02d}:00", "end": f"{hour:02d}:50"}],
            }
            answer = client.post("/courses", json=body)
            answer.raise_for_status()
            return int(answer.json()["id"])

        for i in range(count):
            lecture = section(i, "L01", "lecture", seats, 8 + i // 5, None)
            lab_seats = max(1, -(-seats // labs))
            ids = [
                section(i, f"B{n + 1:02d}", "lab", lab_seats, 14 + i // 5, lecture if n == 0 else None)
                for n in range(labs)
            ]
            made.append(Offering(lecture, tuple(ids)))
        open_registration(client)
    return made


def plan_groups(
    config: ClusterConfig,
    students: int,
    offerings: list[Offering],
    per_student: int,
    seed: int = 7,
    first_student: int = 100_000,
) -> list[Prepared]:
    """Each student asks for `per_student` of the offerings, each as a section group (its lecture
    and one of its labs, chosen at random); all requests shuffled (arrival order)."""
    key = signing_key(config)
    chooser = random.Random(seed)
    requests = []
    for n in range(students):
        student_id = first_student + n
        token = issue(key, student_id, "student", minutes=30)
        for o in chooser.sample(offerings, min(per_student, len(offerings))):
            group = (o.lecture, chooser.choice(o.labs))
            requests.append(Prepared(student_id, token, secrets.token_hex(8), o.lecture, group))
    chooser.shuffle(requests)
    return requests


def plan(
    config: ClusterConfig,
    students: int,
    courses: list[int],
    per_student: int,
    seed: int = 7,
    first_student: int = 100_000,
) -> list[Prepared]:
    """Each student asks for `per_student` of the courses; all requests shuffled (arrival order)."""
    key = signing_key(config)
    chooser = random.Random(seed)
    requests = []
    for n in range(students):
        student_id = first_student + n
        token = issue(key, student_id, "student", minutes=30)
        for course_id in chooser.sample(courses, min(per_student, len(courses))):
            requests.append(Prepared(student_id, token, secrets.token_hex(8), course_id))
    chooser.shuffle(requests)
    return requests


Submitted = Told  # what the queue answered the clients
NOT_RECORDED = (502, 503, 504)  # a refusal to record (or a node between masters): sent again


async def until_answered(
    send: Callable[[str], Awaitable[httpx.Response]],
    urls: list[str],
    turn: Iterator[int],
    what: str,
    give_up_after: float,
    pause: float = 0.05,
    retry_after_cap: float = 0.0,
) -> httpx.Response:
    """`send(url)` until a node answers for good, as a careful client would: a refusal to record
    (502, 503, 504) or a dead node is sent again, on the next node in `turn`, after `pause`
    (the caller sends the same Idempotency-Key), or, with `retry_after_cap`, after the refusal's
    Retry-After up to that many seconds (a shedding node asked for that long). Raises
    TimeoutError after `give_up_after`."""
    deadline = time.monotonic() + give_up_after
    while True:
        wait = pause
        try:
            answer = await send(urls[next(turn) % len(urls)])
            if answer.status_code not in NOT_RECORDED:
                return answer
            wait = max(pause, min(retry_after_cap, _seconds(answer.headers.get("retry-after"))))
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} was never taken")
        await asyncio.sleep(wait)


def _seconds(retry_after: str | None) -> float:
    """A Retry-After in seconds (0 when absent or an HTTP date, which no service sends)."""
    try:
        return max(float(retry_after or 0), 0.0)
    except ValueError:
        return 0.0


async def submit_all(
    urls: list[str], prepared: list[Prepared], concurrency: int = 32, give_up_after: float = 60.0
) -> Told:
    """Send each request until a queue node answers it for good (202 taken, or 409 refused at
    once), as a careful client would: a refusal to record (503) or a dead node is retried, on
    the next node, with the same Idempotency-Key. Raises if a request was never answered."""
    gate = asyncio.Semaphore(concurrency)
    answered = Told()
    ids: dict[str, str] = {}
    turn = itertools.count()
    async with httpx.AsyncClient(timeout=5) as client:

        async def one(p: Prepared) -> None:
            headers = {
                "Authorization": f"Bearer {p.token}",
                "Idempotency-Key": p.key,
                "Content-Type": "application/json",
            }
            async with gate:
                answer = await until_answered(
                    lambda url: client.post(f"{url}/queue/requests", content=p.body, headers=headers),
                    urls,
                    turn,
                    f"request {p.key}",
                    give_up_after,
                )
            if answer.status_code == 202:
                request_id = answer.json()["queue_request_id"]
                answered.duplicate_ids += request_id in ids and ids[request_id] != p.key
                ids[request_id] = p.key
                answered.taken[p.key] = request_id
            elif answer.status_code == 409 and answer.json().get("outcome") == "rejected":
                answered.refused[p.key] = answer.json()["type"].rpartition("/")[2]
            else:
                raise RuntimeError(f"refused: {answer.status_code} {answer.text[:200]}")

        await asyncio.gather(*(one(p) for p in prepared))
    return answered


async def read_outcomes(
    urls: list[str], prepared: list[Prepared], told: Told, concurrency: int = 16, give_up_after: float = 60.0
) -> None:
    """Read every taken request's final outcome as its student would (`GET /queue/requests/{id}`,
    waiting for it), into `told.outcomes`; a request still not final after `give_up_after` is
    left out (the checker counts it as without a final outcome)."""
    gate = asyncio.Semaphore(concurrency)
    turn = itertools.count()
    async with httpx.AsyncClient(timeout=15) as client:

        async def one(p: Prepared, request_id: str) -> None:
            deadline = time.monotonic() + give_up_after
            async with gate:
                while time.monotonic() < deadline:
                    url = urls[next(turn) % len(urls)]
                    try:
                        answer = await client.get(
                            f"{url}/queue/requests/{request_id}",
                            params={"wait": 5},
                            headers={"Authorization": f"Bearer {p.token}"},
                        )
                        if answer.status_code == 200 and answer.json()["status"] in FINAL:
                            told.outcomes[request_id] = answer.json()["status"]
                            return
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.05)

        await asyncio.gather(*(one(p, told.taken[p.key]) for p in prepared if p.key in told.taken))
