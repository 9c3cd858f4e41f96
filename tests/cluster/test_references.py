"""People named as people name them, and references that must exist with the right role
(issue 15, items 5 and 7): real login and course_data nodes, course_data asking login's
directory for every student and teacher a request or an import names."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ops.localcluster import LocalCluster
from tests.cluster.conftest import MakeCluster
from tests.cluster.test_registrar import account, token
from tests.support import wait_until

pytestmark = pytest.mark.cluster


def upload(cluster: LocalCluster, path: str, text: str) -> dict[str, Any]:
    admin = {**token(cluster, 1, "admin"), "content-type": "text/csv"}
    answer = httpx.post(cluster.url("course_data-1") + path, content=text, headers=admin)
    assert answer.status_code == 202, answer.text
    url = cluster.url("course_data-1") + answer.headers["location"]

    def finished() -> dict[str, Any] | None:
        job: dict[str, Any] = httpx.get(url, headers=admin).json()
        return job if job["status"] in ("succeeded", "failed") else None

    return wait_until(finished, 60, f"import {path}")


def refused_field(answer: httpx.Response) -> str:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    return str(answer.json()["errors"][0]["field"])


def test_students_and_teachers_are_named_by_number_or_username_and_must_exist(make_cluster: MakeCluster) -> None:
    cluster = make_cluster({"login": 1, "course_data": 1}).start_serving("login", "course_data")
    course_data, admin = cluster.url("course_data-1"), token(cluster, 1, "admin")
    ann = account(cluster, "ann", student_number="S1234567", full_name="Ann Lee")
    ada = account(cluster, "ada", "teacher", full_name="Ada Lovelace")
    bob = account(cluster, "bob", student_number="7654321")

    # Holds: by student number, username or id; never on a teacher or nobody.
    held = httpx.post(f"{course_data}/holds", json={"student_id": "S1234567", "reason": "fees"}, headers=admin)
    assert (held.status_code, held.json()["student_id"]) == (201, ann)
    by_name = httpx.post(f"{course_data}/holds", json={"student_id": "bob", "reason": "fees"}, headers=admin)
    assert by_name.json()["student_id"] == bob
    for ref in ("ada", 99_999, "S0000000"):
        answer = httpx.post(f"{course_data}/holds", json={"student_id": ref, "reason": "x"}, headers=admin)
        assert refused_field(answer) == "student_id"
    assert (
        "a teacher, not a student"
        in httpx.post(f"{course_data}/holds", json={"student_id": "ada", "reason": "x"}, headers=admin).json()["detail"]
    )
    assert httpx.get(f"{course_data}/holds", headers=admin).json()["total"] == 2
    listed = httpx.get(f"{course_data}/holds?student_id=S1234567", headers=admin).json()["items"]
    assert [h["student_id"] for h in listed] == [ann]
    assert refused_field(httpx.get(f"{course_data}/holds?student_id=ada", headers=admin)) == "student_id"

    # Courses: the teacher by username (their name filled in) or id; a student or nobody is refused.
    made = httpx.post(
        f"{course_data}/courses",
        json={"code": "CS101", "title": "Programming", "credits": 3, "capacity": 2, "teacher_id": "ada"},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    assert (made.json()["teacher_id"], made.json()["teacher_name"]) == (ada, "Ada Lovelace")
    course = made.json()["id"]
    for ref in (ann, "S1234567", 99_999):
        answer = httpx.post(
            f"{course_data}/courses",
            json={"code": "CS102", "title": "T", "credits": 3, "capacity": 2, "teacher_id": ref},
            headers=admin,
        )
        assert refused_field(answer) == "teacher_id"
        patched = httpx.patch(f"{course_data}/courses/{course}", json={"teacher_id": ref}, headers=admin)
        assert refused_field(patched) == "teacher_id"
    assert [c["code"] for c in httpx.get(f"{course_data}/courses", headers=admin).json()["items"]] == ["CS101"]
    assert httpx.get(f"{course_data}/courses/{course}", headers=admin).json()["teacher_id"] == ada

    # Completed courses: the student in the path by number, username or id.
    added = httpx.post(f"{course_data}/students/S1234567/completed", json={"course_codes": ["MA100"]}, headers=admin)
    assert added.json() == {"student_id": ann, "course_codes": ["MA100"]}
    assert httpx.get(f"{course_data}/students/ann/completed", headers=admin).json()["student_id"] == ann
    assert httpx.get(f"{course_data}/students/{ann}/completed", headers=admin).json()["course_codes"] == ["MA100"]
    assert refused_field(httpx.get(f"{course_data}/students/ada/completed", headers=admin)) == "id"
    nobody = httpx.post(f"{course_data}/students/99999/completed", json={"course_codes": ["MA100"]}, headers=admin)
    assert refused_field(nobody) == "id"
    assert httpx.delete(f"{course_data}/students/S1234567/completed/MA100", headers=admin).status_code == 204

    # Permits: for a student, by number; never for a teacher or nobody.
    permits = f"/internal/teaching/{ada}/courses/{course}/permits"
    permit = cluster.request("course_data-1", "POST", permits, json={"student_id": "7654321"})
    assert (permit.status_code, permit.json()["student_id"]) == (201, bob)
    for ref in ("ada", 99_999):
        assert (
            refused_field(cluster.request("course_data-1", "POST", permits, json={"student_id": ref})) == "student_id"
        )

    # The imports: every row naming nobody, or someone of the wrong role, in one answer; nothing made.
    completed = upload(
        cluster, "/completed/import", "student_id,course_code\nS1234567,CS101\nada,CS101\n99999,CS101\nbob,CS101\n"
    )
    assert completed["status"] == "failed"
    assert {(e["line"], e["field"]) for e in completed["errors"]} == {(3, "student_id"), (4, "student_id")}
    assert httpx.get(f"{course_data}/students/{ann}/completed", headers=admin).json()["course_codes"] == []
    good = upload(cluster, "/completed/import", f"student_id,course_code\nS1234567,CS101\n{bob},CS101\nann,MA1\n")
    assert (good["status"], good["result"]) == ("succeeded", {"recorded": 3})
    assert httpx.get(f"{course_data}/students/ann/completed", headers=admin).json()["course_codes"] == ["CS101", "MA1"]

    header = "code,title,credits,capacity,teacher_id\n"
    courses = upload(cluster, "/courses/import", header + "CS201,A,3,9,ada\nCS202,B,3,9,ann\nCS203,C,3,9,99999\n")
    assert {(e["line"], e["field"]) for e in courses["errors"]} == {(3, "teacher_id"), (4, "teacher_id")}
    created = upload(cluster, "/courses/import", header + f"CS201,A,3,9,ada\nCS202,B,3,9,{ada}\nCS203,C,3,9,\n")
    assert created["status"] == "succeeded", created
    taught = {c["code"]: c for c in httpx.get(f"{course_data}/courses", headers=admin).json()["items"]}
    assert [taught[c]["teacher_id"] for c in ("CS201", "CS202", "CS203")] == [ada, ada, None]
    assert taught["CS201"]["teacher_name"] == "Ada Lovelace"


def test_login_out_of_reach_is_a_503_to_retry_and_nothing_changes(make_cluster: MakeCluster) -> None:
    # Three Raft members: with login stopped, the other two keep quorum (course_data stays master).
    cluster = make_cluster({"login": 1, "course_data": 1, "student": 1}).start_serving("login", "course_data")
    course_data, admin = cluster.url("course_data-1"), token(cluster, 1, "admin")
    account(cluster, "ann")
    assert httpx.get(f"{course_data}/holds", headers=admin).json()["total"] == 0  # (it has login's keys now)
    cluster.stop("login-1")
    # login's lease may not have ended yet: the call is then refused at connect; after it, no master.
    answer = httpx.post(f"{course_data}/holds", json={"student_id": "ann", "reason": "x"}, headers=admin)
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["type"] == "/problems/dependency-unavailable"
    assert httpx.get(f"{course_data}/holds", headers=admin).json()["total"] == 0
