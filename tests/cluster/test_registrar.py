"""Enrollment through real student and course_data nodes."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import sqlite3
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from ops.localcluster import LocalCluster, wait_for
from ops.rush import until_answered
from ops.tokens import signing_key
from tests.api.login_kit import forge

pytestmark = pytest.mark.cluster


def token(cluster: LocalCluster, user_id: int, role: str) -> dict[str, str]:
    key = signing_key(cluster.config)
    signed = forge(key, sub=str(user_id), name=f"user{user_id}", role=role, sid=secrets.token_hex(8))
    return {"Authorization": f"Bearer {signed}"}


def account(cluster: LocalCluster, username: str, role: str = "student", **fields: Any) -> int:
    """A user made in login (holds, permits and teachers must name real users); its id."""
    made = httpx.post(
        f"{cluster.url('login-1')}/users",
        json={"username": username, "role": role, **fields},
        headers=token(cluster, 1, "admin"),
    )
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def started(cluster: LocalCluster) -> LocalCluster:
    """Start every node and wait until login and course_data have masters."""
    return cluster.start_serving("login", "course_data")


def open_registration(cluster: LocalCluster, admin: dict[str, str], capacity: int, code: str = "CS101") -> int:
    course_data = cluster.url("course_data-1")
    now = time.time()
    windows = {"windows": [{"opens_at": now - 60, "closes_at": now + 3600, "drop_deadline": now + 7200}]}
    assert httpx.put(f"{course_data}/windows", json=windows, headers=admin).status_code == 200
    course = httpx.post(
        f"{course_data}/courses",
        json={
            "code": code,
            "title": "Programming",
            "credits": 3,
            "capacity": capacity,
            "meetings": [{"weekday": 0, "start": "09:00", "end": "10:30"}],
        },
        headers=admin,
    )
    assert course.status_code == 201, course.text
    return int(course.json()["id"])


@pytest.mark.timeout(600)  # with stress-ng beside it one answer took 90 s and the rush 200 s
def test_500_students_at_once_into_10_seats_through_two_student_nodes(shared: LocalCluster) -> None:
    cluster = shared  # student ids 1000-1499 and course RU101 are this test's alone
    admin = token(cluster, 1, "admin")
    course_id = open_registration(cluster, admin, capacity=10, code="RU101")
    students = [cluster.url("student-1"), cluster.url("student-2")]

    async def rush() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=200)  # the other 300 wait for one of these, however long
        async with httpx.AsyncClient(timeout=httpx.Timeout(60, pool=None), limits=limits) as client:

            async def one(i: int) -> httpx.Response:
                auth = token(cluster, 1000 + i, "student")

                async def send(url: str) -> httpx.Response:
                    return await client.post(f"{url}/student/enrollments", json={"course_id": course_id}, headers=auth)

                # As a real client: a 503 (a loaded node shedding) is sent again after its Retry-After,
                # on the other student node, until a final answer or the deadline (then TimeoutError).
                turn = itertools.count(i)  # the first try on node i % 2, as the load balancer would
                return await until_answered(send, students, turn, f"student {1000 + i}", 420, retry_after_cap=5)

            return await asyncio.gather(*(one(i) for i in range(500)))

    answers = asyncio.run(rush())
    # A 503 may have come after the ledger decided (the student node gave up waiting for it): the
    # request sent again is then told what it already has, and counts as that.
    kinds = Counter(_kind(r) for r in answers)
    assert kinds == {"enrolled": 10, "waitlisted": 50, "waitlist-full": 440}, Counter(
        (r.status_code, r.text[:120]) for r in answers
    )
    places = sorted(
        r.json()["waitlist_position"] if r.status_code == 202 else _waitlist_position(cluster, students[0], 1000 + i)
        for i, r in enumerate(answers)
        if _kind(r) == "waitlisted"
    )
    assert places == list(range(1, 51))  # each waitlisted student has a place of their own, in arrival order
    refused: dict[str, Any] = next(r.json() for r in answers if r.status_code == 409)
    assert refused["detail"]
    with sqlite3.connect(cluster.data_dir / "db" / "course_data.db") as db:
        (taken,) = db.execute("SELECT taken FROM courses WHERE id = ?", (course_id,)).fetchone()
        holders = [sid for (sid,) in db.execute("SELECT student_id FROM enrollments WHERE course_id = ?", (course_id,))]
    assert taken == len(holders) == len(set(holders)) == 10  # never oversold, nobody twice
    assert set(holders) == {1000 + i for i, r in enumerate(answers) if _kind(r) == "enrolled"}  # as they were told

    # A drop frees a seat: the first on the waitlist gets it, and sees it.
    winner = next(i for i, r in enumerate(answers) if _kind(r) == "enrolled")
    first_waiting = min(
        (i for i, r in enumerate(answers) if _kind(r) == "waitlisted"),
        key=lambda i: _waitlist_position(cluster, students[0], 1000 + i),
    )
    winner_auth = token(cluster, 1000 + winner, "student")
    dropped = httpx.delete(f"{students[1]}/student/enrollments/{course_id}", headers=winner_auth)
    assert dropped.status_code == 200, dropped.text
    next_auth = token(cluster, 1000 + first_waiting, "student")
    mine = httpx.get(f"{students[0]}/student/enrollments", headers=next_auth).json()
    assert [c["code"] for c in mine["enrolled"]] == ["RU101"]


def _kind(answer: httpx.Response) -> str:
    """What a final answer to an enrollment says the student has: a seat, a place, or a refusal (its type)."""
    if answer.status_code == 201:
        return "enrolled"
    if answer.status_code == 202:
        return "waitlisted"
    if answer.status_code == 409:
        kind = answer.json()["type"].removeprefix("/problems/")
        return {"already-enrolled": "enrolled", "already-waitlisted": "waitlisted"}.get(kind, kind)
    return str(answer.status_code)


def _waitlist_position(cluster: LocalCluster, student_url: str, student_id: int) -> int:
    mine = httpx.get(f"{student_url}/student/enrollments", headers=token(cluster, student_id, "student")).json()
    return int(mine["waitlisted"][0]["position"])


def test_rules_reach_the_student_with_their_reasons(shared: LocalCluster) -> None:
    cluster = shared  # courses RQ101, RQ201 (listed with ?q=RQ), user student77, forged ids 1600-1601: its own
    admin = token(cluster, 1, "admin")
    course_id = open_registration(cluster, admin, capacity=5, code="RQ101")
    course_data, student = cluster.url("course_data-1"), cluster.url("student-1")
    clash = httpx.post(
        f"{course_data}/courses",
        json={
            "code": "RQ201",
            "title": "Algebra",
            "credits": 4,
            "capacity": 5,
            "meetings": [{"weekday": 0, "start": "10:00", "end": "11:00"}],
        },
        headers=admin,
    ).json()["id"]
    me_id = account(cluster, "student77")
    me = token(cluster, me_id, "student")
    assert httpx.post(f"{student}/student/enrollments", json={"course_id": course_id}, headers=me).status_code == 201
    again = httpx.post(f"{student}/student/enrollments", json={"course_id": course_id}, headers=me)
    assert again.status_code == 409
    assert again.json()["type"] == "/problems/already-enrolled"
    conflict = httpx.post(f"{student}/student/enrollments", json={"course_id": clash}, headers=me)
    assert conflict.status_code == 409
    assert conflict.json()["type"] == "/problems/time-conflict"
    assert conflict.json()["conflicts"] == ["RQ101"]
    swapped = httpx.post(
        f"{student}/student/enrollments/swap", json={"drop_course_id": course_id, "add_course_id": clash}, headers=me
    )
    assert swapped.status_code == 200, swapped.text
    assert [c["code"] for c in httpx.get(f"{student}/student/enrollments", headers=me).json()["enrolled"]] == ["RQ201"]
    view = httpx.get(f"{student}/student/courses?day=mon&q=RQ", headers=me)
    assert view.status_code == 200, view.text
    seen = {c["code"]: (c["can_enroll"], c["type"]) for c in view.json()["items"]}
    assert seen == {"RQ101": (False, "time-conflict"), "RQ201": (False, "already-enrolled")}
    assert httpx.get(f"{student}/student/courses?day=someday", headers=me).status_code == 422
    other = httpx.get(f"{student}/student/courses?q=RQ", headers=token(cluster, 1600, "student")).json()["items"]
    assert {c["code"]: c["outcome"] for c in other} == {"RQ101": "accepted", "RQ201": "accepted"}
    week = httpx.get(f"{student}/student/timetable", headers=me).json()
    assert [(s["code"], s["day"], s["start"], s["end"]) for s in week["week"]] == [("RQ201", "Mon", "10:00", "11:00")]
    assert week["credits"] == 4
    ics = {**me, "Accept": "text/calendar"}
    assert httpx.get(f"{student}/student/timetable", headers=ics).status_code == 409  # no term dates yet
    term = {"course": {"term_start": "2027-01-06", "term_end": "2027-04-30"}}
    superuser = token(cluster, 2, "super_admin")
    assert httpx.patch(f"{cluster.url('login-1')}/settings", json=term, headers=superuser).status_code == 200
    calendar = wait_for(
        lambda: (r := httpx.get(f"{student}/student/timetable", headers=ics)).status_code == 200 and r, 10, "term"
    )
    assert calendar.headers["content-type"].startswith("text/calendar")
    assert "DTSTART:20270111T100000" in calendar.text  # the first Monday of the term
    assert "RRULE:FREQ=WEEKLY;UNTIL=20270430T235959" in calendar.text
    hold = httpx.post(f"{course_data}/holds", json={"student_id": me_id, "reason": "library fines"}, headers=admin)
    assert hold.status_code == 201
    held = httpx.post(f"{student}/student/enrollments", json={"course_id": course_id}, headers=me)
    assert held.json()["type"] == "/problems/hold"
    assert "library fines" in held.json()["detail"]
    teacher = token(cluster, 1601, "teacher")
    assert httpx.post(f"{student}/student/enrollments", json={"course_id": 1}, headers=teacher).status_code == 403
    assert httpx.put(f"{course_data}/windows", json={"windows": []}, headers=me).status_code == 403
    listed = httpx.get(f"{course_data}/courses?day=mon&has_seats=true&q=RQ", headers=me)
    assert [c["code"] for c in listed.json()["items"]] == ["RQ101", "RQ201"]
    unchanged = {**me, "If-None-Match": listed.headers["etag"]}
    cached = httpx.get(f"{course_data}/courses?day=mon&has_seats=true&q=RQ", headers=unchanged)
    assert cached.status_code == 304
    full = httpx.patch(f"{course_data}/courses/{clash}", json={"capacity": 0}, headers=admin)
    assert full.status_code == 409  # never below the seats taken


def test_teachers_manage_only_their_own_courses(shared: LocalCluster) -> None:
    cluster = shared  # forged teacher ids 610-611, student ids 500-503, user student504, courses TM101, PH100: its own
    admin = token(cluster, 1, "admin")
    someone_elses = open_registration(cluster, admin, capacity=1, code="TM101")
    teacher_url, student_url = cluster.url("teacher-1"), cluster.url("student-1")
    ada, bob = token(cluster, 610, "teacher"), token(cluster, 611, "teacher")
    made = httpx.post(
        f"{teacher_url}/teacher/courses",
        json={
            "code": "PH100",
            "title": "Physics",
            "credits": 3,
            "capacity": 1,
            "meetings": [{"weekday": 2, "start": "14:00", "end": "15:30"}],
        },
        headers=ada,
    )
    assert made.status_code == 201, made.text
    course = made.json()["id"]
    assert [c["code"] for c in httpx.get(f"{teacher_url}/teacher/courses", headers=ada).json()["items"]] == ["PH100"]
    assert httpx.get(f"{teacher_url}/teacher/courses", headers=bob).json()["items"] == []
    assert httpx.get(f"{teacher_url}/teacher/courses/{course}/roster", headers=bob).status_code == 404
    assert httpx.patch(f"{teacher_url}/teacher/courses/{course}", json={"capacity": 9}, headers=bob).status_code == 404
    student = token(cluster, 500, "student")
    assert httpx.get(f"{teacher_url}/teacher/courses", headers=student).status_code == 403

    first, second, third = (token(cluster, sid, "student") for sid in (501, 502, 503))
    enroll = {"course_id": course}
    assert httpx.post(f"{student_url}/student/enrollments", json=enroll, headers=first).status_code == 201
    assert httpx.post(f"{student_url}/student/enrollments", json=enroll, headers=second).status_code == 202
    assert httpx.patch(f"{teacher_url}/teacher/courses/{course}", json={"capacity": 0}, headers=ada).status_code == 409
    clash = httpx.post(f"{student_url}/student/enrollments", json={"course_id": someone_elses}, headers=first)
    assert clash.status_code == 201  # TM101, Monday 9:00
    moved = httpx.patch(
        f"{teacher_url}/teacher/courses/{course}",
        json={"meetings": [{"weekday": 0, "start": "09:30", "end": "10:00"}]},
        headers=ada,
    )
    assert moved.status_code == 409
    assert moved.json()["students"] == [501]

    listed = httpx.get(f"{teacher_url}/teacher/courses/{course}/roster", headers=ada).json()
    assert [s["student_id"] for s in listed["students"]] == [501]
    as_csv = httpx.get(f"{teacher_url}/teacher/courses/{course}/roster", headers={**ada, "Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.splitlines()[1].startswith("PH100,enrolled,1,501,")

    removed = httpx.request(
        "DELETE",
        f"{teacher_url}/teacher/courses/{course}/students/501",
        json={"reason": "missed the lab safety session"},
        headers=ada,
    )
    assert removed.status_code == 204, removed.text
    mine = httpx.get(f"{student_url}/student/enrollments", headers=second).json()
    assert [c["code"] for c in mine["enrolled"]] == ["PH100"]  # promoted from the waitlist

    assert httpx.post(f"{student_url}/student/enrollments", json=enroll, headers=third).status_code == 202
    fourth = account(cluster, "student504", student_number="S504")
    permit = httpx.post(f"{teacher_url}/teacher/courses/{course}/permits", json={"student_id": "S504"}, headers=ada)
    assert permit.status_code == 201
    past_capacity = httpx.post(
        f"{student_url}/student/enrollments", json=enroll, headers=token(cluster, fourth, "student")
    )
    assert past_capacity.status_code == 201
    assert httpx.get(f"{cluster.url('course_data-1')}/courses/{course}", headers=admin).json()["taken"] == 2
