"""The registrar's desk and rosters through real login, course_data, queue and teacher nodes:
students named by student number, names from login's directory, the queue's count."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import httpx
import pytest

from tests.cluster.conftest import MakeCluster
from tests.cluster.test_registrar import account as person
from tests.cluster.test_registrar import token

pytestmark = pytest.mark.cluster


def test_the_desk_names_students_by_number_and_rosters_show_their_names(make_cluster: MakeCluster) -> None:
    cluster = make_cluster({"login": 1, "course_data": 1, "queue": 1, "teacher": 1})
    cluster.start_serving("login", "course_data", "queue", "teacher")
    course_data, admin = cluster.url("course_data-1"), token(cluster, 1, "admin")
    ann = person(cluster, "ann", student_number="S1234567", full_name="Ann Lee", email="ann@uni.example")
    person(cluster, "bob", student_number="S7654321", full_name="@SUM(1)", email="bob@uni.example")
    teacher = person(cluster, "ada", "teacher", full_name="Ada Lovelace")
    now = time.time()
    windows = {"windows": [{"opens_at": now - 60, "closes_at": now + 3600, "drop_deadline": now + 7200}]}
    assert httpx.put(f"{course_data}/windows", json=windows, headers=admin).status_code == 200
    body = {"code": "CS101", "title": "Programming", "credits": 3, "capacity": 1, "teacher_id": teacher}
    made = httpx.post(f"{course_data}/courses", json=body, headers=admin)
    assert made.status_code == 201, made.text
    course = made.json()["id"]

    def desk(ref: str, **change: Any) -> httpx.Response:
        return httpx.post(f"{course_data}/desk/students/{ref}/enroll", json=change, headers=admin, timeout=30)

    assert desk("S1234567", course_id=course, reason="late add").json()["outcome"] == "accepted"
    assert desk("S7654321", course_id=course, reason="late add").json()["outcome"] == "waitlisted"
    assert desk("ada", course_id=course, reason="x").status_code == 404  # a teacher is not a student

    picture = httpx.get(f"{course_data}/desk/students/S1234567", headers=admin, timeout=30).json()
    assert (picture["student"]["id"], picture["student"]["full_name"]) == (ann, "Ann Lee")
    assert [c["code"] for c in picture["enrolled"]] == ["CS101"]
    assert picture["open_queue_requests"] == 0  # asked of the queue's master
    assert picture["audit"][0]["reason"] == "late add"

    roster = httpx.get(f"{course_data}/courses/{course}/roster", headers=admin, timeout=30).json()
    assert [s["full_name"] for s in roster["students"]] == ["Ann Lee"]
    assert [(w["position"], w["student_number"]) for w in roster["waitlist"]] == [(1, "S7654321")]
    mine = httpx.get(
        f"{cluster.url('teacher-1')}/teacher/courses/{course}/roster",
        headers={**token(cluster, teacher, "teacher"), "Accept": "text/csv"},
        timeout=30,
    )
    assert mine.status_code == 200, mine.text
    rows = list(csv.DictReader(io.StringIO(mine.text)))
    assert [(r["list"], r["full_name"], r["email"]) for r in rows] == [
        ("enrolled", "Ann Lee", "ann@uni.example"),
        ("waitlist", "'@SUM(1)", "bob@uni.example"),
    ]
    other = httpx.get(
        f"{cluster.url('teacher-1')}/teacher/courses/{course}/roster", headers=token(cluster, 999, "teacher")
    )
    assert other.status_code == 404
