"""The drills' independent checker finds each kind of wrong it claims to find.

A small ledger (SQLite, the real schema) and request records in a real redis-server are
written by hand: first a consistent rush, then one wrong at a time."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from ops.drill.checker import Told, report
from storage.database import Database
from storage.migrations import migrate
from storage.schemas import MIGRATIONS

Requests = dict[str, tuple[int, str, str, str, int]]  # request id -> (student, arrival, status, type, seq)
RUSH: Requests = {
    "r1": (1, "1000-0", "accepted", "", 1),
    "r2": (2, "1000-1", "accepted", "", 2),
    "r3": (3, "1000-2", "waitlisted", "", 3),
}


@pytest.fixture
def redis_db(redis_url: str) -> Iterator[str]:
    url = redis_url.rsplit("/", 1)[0] + "/9"  # a database of its own on the session's server
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.db"
    database = Database(f"sqlite+aiosqlite:///{path}")

    async def made() -> None:
        await migrate(database, MIGRATIONS["course_data"])
        await database.close()

    asyncio.run(made())
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO courses (id, code, title, department, teacher_name, credits, capacity, taken, location,"
            " description, updated_at) VALUES (7, 'C7', 'Seven', '', '', 3, 2, 2, '', '', 0)"
        )
        for rid, (student, _, status, kind, seq) in RUSH.items():
            db.execute(
                "INSERT INTO queue_decisions (seq, request_id, student_id, action, course_id, outcome, type, reason,"
                " decided_at) VALUES (?, ?, ?, 'enroll', 7, ?, ?, '', 0)",
                (seq, rid, student, status, kind),
            )
            table = "enrollments (course_id, student_id, via_permit, created_at)" if status == "accepted" else None
            if status == "waitlisted":
                table = "waitlist (course_id, student_id, created_at)"
                db.execute(f"INSERT INTO {table} VALUES (7, ?, 0)", (student,))
            elif table:
                db.execute(f"INSERT INTO {table} VALUES (7, ?, 0, 0)", (student,))
    return path


def records(url: str, rush: Requests) -> None:
    client = redis.Redis.from_url(url)
    for rid, (student, entry, status, kind, seq) in rush.items():
        fields = {
            "student_id": student,
            "action": "enroll",
            "course_id": 7,
            "drop_course_id": "",
            "admitted_at": 1.0,
            "priority": 2,
        }
        fields |= {"entry": entry, "status": status, "type": kind, "seq": seq, "decided_at": 2.0}
        client.hset(f"q:r:{rid}", mapping=fields)
    client.set("q:admitted", len(rush))
    client.set("q:decided", len(rush))
    client.close()


def told_of(rush: Requests) -> Told:
    return Told(taken={f"key-{rid}": rid for rid in rush}, outcomes={rid: r[2] for rid, r in rush.items()})


def run(tmp_path: Path, url: str, change: Callable[[Path, Requests, Told], None]) -> dict[str, int]:
    rush = dict(RUSH)
    path = ledger(tmp_path)
    told = told_of(rush)
    change(path, rush, told)
    records(url, rush)
    checks: dict[str, int] = report(url, f"sqlite+aiosqlite:///{path}", told)["checks"]
    return {k: v for k, v in checks.items() if v}


def nothing(path: Path, rush: Requests, told: Told) -> None:
    pass


def oversold(path: Path, rush: Requests, told: Told) -> None:
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO enrollments (course_id, student_id, via_permit, created_at) VALUES (7, 9, 0, 0)")


def lost(path: Path, rush: Requests, told: Told) -> None:
    told.taken["key-r4"] = "r4"  # the client was told it was taken; Redis never heard of it


def told_otherwise(path: Path, rush: Requests, told: Told) -> None:
    told.outcomes["r3"] = "accepted"


def out_of_order(path: Path, rush: Requests, told: Told) -> None:
    rush["r1"], rush["r2"] = (1, "1000-0", "accepted", "", 2), (2, "1000-1", "accepted", "", 1)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE queue_decisions SET seq = seq + 10")
        db.execute("UPDATE queue_decisions SET seq = 2 WHERE request_id = 'r1'")
        db.execute("UPDATE queue_decisions SET seq = 1 WHERE request_id = 'r2'")


def timed_out_first(path: Path, rush: Requests, told: Told) -> None:
    rush["r0"] = (4, "999-0", "rejected", "timeout", 0)
    told.taken["key-r0"] = "r0"
    told.outcomes["r0"] = "rejected"
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO queue_decisions (seq, request_id, student_id, action, course_id, outcome, type, reason,"
            " decided_at) VALUES (9, 'r0', 4, 'enroll', 7, 'rejected', 'timeout', '', 0)"
        )


def seat_twice(path: Path, rush: Requests, told: Told) -> None:
    told.duplicate_ids += 1  # one request id answered for two keys


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (nothing, {}),
        (oversold, {"oversold_seats": 1, "taken_differs_from_enrollments": 1}),
        (lost, {"told_taken_but_lost": 1}),
        (told_otherwise, {"told_outcome_differs": 1}),
        (out_of_order, {"fcfs_violations": 1}),
        (timed_out_first, {"timed_out_before_a_later_place": 1, "timed_out_with_places_left": 1}),
        (seat_twice, {"taken_twice": 1}),
    ],
)
def test_the_checker_finds_each_wrong(
    tmp_path: Path, redis_db: str, change: Callable[..., None], expected: dict[str, int]
) -> None:
    assert run(tmp_path, redis_db, change) == expected
