"""course_data in-process: the catalogue, course administration, completed courses."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.registrar_kit import Node, course_data_on, job_outcome


@pytest.fixture(params=["sqlite", "mariadb"])
def node(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> Iterator[Node]:
    """A course_data node on SQLite, and on MariaDB (the same API on the other family of SQL)."""
    with course_data_on(request, tmp_path, redis_url) as made:
        yield made


def course(code: str, **fields: Any) -> dict[str, Any]:
    return {"code": code, "title": f"Course {code}", "credits": 3, "capacity": 2, **fields}


def test_catalogue_search_filters_and_etag(node: Node) -> None:
    admin, student = node.auth("admin"), node.auth("student", 7)
    monday = [{"weekday": 0, "start": "09:00", "end": "10:00"}]
    for body in (
        course("CS101", department="CS", meetings=monday, teacher_name="Ada Lovelace"),
        course("CS201", department="CS", credits=4, capacity=0, description="graphs and trees"),
        course("MA101", department="Math", meetings=[{"weekday": 3, "start": "13:00", "end": "14:00"}]),
    ):
        assert node.client.post("/courses", json=body, headers=admin).status_code == 201
    assert node.client.post("/courses", json=course("CS101"), headers=admin).status_code == 409

    def codes(query: str) -> list[str]:
        answer = node.client.get(f"/courses?{query}", headers=student)
        assert answer.status_code == 200, answer.text
        return [c["code"] for c in answer.json()["items"]]

    assert codes("department=cs") == ["CS101", "CS201"]
    assert codes("q=trees") == ["CS201"]
    assert codes("day=mon") == ["CS101"]
    assert codes("day=3") == ["MA101"]
    assert codes("credits=4") == ["CS201"]
    assert codes("has_seats=false") == ["CS201"]
    assert codes("teacher=lovelace") == ["CS101"]
    assert codes("page_size=2&page=2") == ["MA101"]
    bad = node.client.get("/courses?day=someday&credits=x", headers=student)
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"day", "credits"}

    first = node.client.get("/courses", headers=student)
    same = node.client.get("/courses", headers={**student, "If-None-Match": first.headers["etag"]})
    assert same.status_code == 304
    cs101 = first.json()["items"][0]
    assert cs101["meetings"] == [{"weekday": 0, "day": "Mon", "start": "09:00", "end": "10:00"}]
    assert node.client.patch(f"/courses/{cs101['id']}", json={"capacity": 5}, headers=admin).status_code == 200
    changed = node.client.get("/courses", headers={**student, "If-None-Match": first.headers["etag"]})
    assert changed.status_code == 200
    assert changed.json()["items"][0]["capacity"] == 5


def test_course_changes_keep_the_seat_rules(node: Node) -> None:
    admin = node.auth("admin")
    made = node.client.post("/courses", json=course("PH100"), headers=admin).json()
    bad = node.client.post(
        "/courses", json=course("PH101", meetings=[{"weekday": 0, "start": "10:00", "end": "09:00"}]), headers=admin
    )
    assert bad.status_code == 422
    now = time.time()
    windows = {"windows": [{"opens_at": now - 10, "closes_at": now + 600, "drop_deadline": now + 600}]}
    assert node.client.put("/windows", json=windows, headers=admin).status_code == 200
    decision = node.client.post(
        "/internal/ledger",
        json={"action": "enroll", "student_id": 9, "course_id": made["id"], "actor": "tests"},
        headers=node.internal(),
    )
    assert decision.json()["outcome"] == "accepted"
    assert node.client.patch(f"/courses/{made['id']}", json={"capacity": 0}, headers=admin).status_code == 409
    assert node.client.delete(f"/courses/{made['id']}", headers=admin).status_code == 409
    assert node.client.get(f"/courses/{made['id']}", headers=admin).json()["taken"] == 1


def test_completed_courses_by_api_and_csv_feed_the_prerequisite_rule(node: Node) -> None:
    admin = node.auth("admin")
    for code in ("CS101", "CS201"):  # (a prerequisite must be a course of the catalogue)
        node.client.post("/courses", json=course(code), headers=admin)
    advanced = node.client.post(
        "/courses", json=course("CS301", prerequisites=["CS101", "CS201"]), headers=admin
    ).json()
    now = time.time()
    windows = {"windows": [{"opens_at": now - 10, "closes_at": now + 600, "drop_deadline": now + 600}]}
    node.client.put("/windows", json=windows, headers=admin)

    def enroll(student: int) -> dict[str, Any]:
        answer = node.client.post(
            "/internal/ledger",
            json={"action": "enroll", "student_id": student, "course_id": advanced["id"], "actor": "tests"},
            headers=node.internal(),
        )
        return dict(answer.json())

    assert enroll(5)["missing"] == ["CS101", "CS201"]
    added = node.client.post("/students/5/completed", json={"course_codes": ["CS101"]}, headers=admin)
    assert added.json()["course_codes"] == ["CS101"]
    assert enroll(5)["missing"] == ["CS201"]

    def upload(text: str) -> dict[str, Any]:
        answer = node.client.post("/completed/import", content=text, headers={**admin, "content-type": "text/csv"})
        return job_outcome(node.client, answer, admin)

    refused = upload("student_id,course_code\n5,CS201\nfive,CS202\n6,not a code\n7,²\n")
    assert refused["status"] == "failed"
    assert {(e["line"], e["field"]) for e in refused["errors"]} == {
        (3, "student_id"),
        (4, "course_code"),
        (5, "course_code"),
    }
    assert node.client.get("/students/5/completed", headers=admin).json()["course_codes"] == ["CS101"]  # nothing
    recorded = upload("student_id,course_code\n5,CS201\n5,CS101\n6,CS101\n")
    assert (recorded["status"], recorded["result"]) == ("succeeded", {"recorded": 3})
    assert enroll(5)["outcome"] == "accepted"
    assert node.client.delete("/students/6/completed/CS101", headers=admin).status_code == 204
    assert node.client.delete("/students/6/completed/CS101", headers=admin).status_code == 404


def test_course_csv_import_reports_every_bad_row_and_creates_all_or_nothing(node: Node) -> None:
    admin = node.auth("admin")
    csv_headers = {**admin, "content-type": "text/csv"}
    node.client.post("/courses", json=course("OLD1"), headers=admin)
    header = "code,title,credits,capacity,meetings,prerequisites,department\n"
    bad = (
        header
        + "AL100,Algebra,3,30,Mon 09:00-10:30; Wed 09:00-10:30,,Math\n"  # line 2: fine
        + "AL200,Algebra II,three,30,,AL100,Math\n"  # line 3: credits
        + "AL300,Topology,3,30,Someday 9-10,,Math\n"  # line 4: meetings
        + "AL100,Again,3,30,,,Math\n"  # line 5: repeats line 2
        + "OLD1,Exists,3,30,,,Math\n"  # line 6: already in the catalogue
        + "AL400,Late,3,30,Tue 11:00-10:00,,Math\n"  # line 7: ends before it starts
    )

    def upload(text: str) -> dict[str, Any]:
        return job_outcome(node.client, node.client.post("/courses/import", content=text, headers=csv_headers), admin)

    refused = upload(bad)
    assert refused["status"] == "failed", refused
    lines = {(e["line"], e["field"]) for e in refused["errors"]}
    # Every bad row in the one answer: the catalogue's codes too (line 6), not only after a re-upload.
    assert lines == {(3, "credits"), (4, "meetings"), (5, "code"), (6, "code"), (7, "meetings.0")}
    assert [c["code"] for c in node.client.get("/courses", headers=admin).json()["items"]] == ["OLD1"]
    assert [(e["line"], e["reason"]) for e in upload(header)["errors"]] == [(2, "no rows")]
    assert node.client.post("/courses/import", content=bad, headers=admin).status_code == 415

    good = header + "AL100,Algebra,3,30,Mon 09:00-10:30; wed 9:00-10:30,,Math\nAL200,Algebra II,4,25,,AL100,Math\n"
    created = upload(good)
    assert created["status"] == "succeeded", created
    assert created["progress"] == {"phase": "done", "rows_done": 2, "rows_total": 2}
    found = {c["code"]: c for c in node.client.get("/courses?department=math", headers=admin).json()["items"]}
    assert created["result"] == {"created": 2, "ids": {"AL100": found["AL100"]["id"], "AL200": found["AL200"]["id"]}}
    assert [(m["day"], m["start"], m["end"]) for m in found["AL100"]["meetings"]] == [
        ("Mon", "09:00", "10:30"),
        ("Wed", "09:00", "10:30"),
    ]
    assert found["AL200"]["prerequisites"] == ["AL100"]
    assert (found["AL200"]["credits"], found["AL200"]["capacity"]) == (4, 25)
    student = node.auth("student", 3)
    assert (
        node.client.post("/courses/import", content=good, headers={**student, "content-type": "text/csv"}).status_code
        == 403
    )
    assert node.client.get(created["url"], headers=student).status_code == 403


def test_every_change_leaves_an_audit_record(node: Node) -> None:
    admin = node.auth("admin", 1, name="registrar")
    made = node.client.post("/courses", json=course("HI100"), headers=admin).json()
    node.client.patch(f"/courses/{made['id']}", json={"capacity": 3, "title": "History"}, headers=admin)
    now = time.time()
    windows = {"windows": [{"opens_at": now - 10, "closes_at": now + 600, "drop_deadline": now + 600}]}
    node.client.put("/windows", json=windows, headers=admin)
    hold = node.client.post("/holds", json={"student_id": 4, "reason": "unpaid fees"}, headers=admin).json()
    node.client.delete(f"/holds/{hold['id']}", headers=admin)
    node.client.post(
        "/internal/ledger",
        json={"action": "enroll", "student_id": 4, "course_id": made["id"], "actor": "student4"},
        headers=node.internal(),
    )
    trail = node.client.get("/audit?page_size=100", headers=admin).json()["items"]
    assert [(r["action"], r["actor"], r["outcome"]) for r in reversed(trail)] == [
        ("course-create", "registrar", "done"),
        ("course-update", "registrar", "done"),
        ("windows", "registrar", "done"),
        ("hold-add", "registrar", "done"),
        ("hold-remove", "registrar", "done"),
        ("enroll", "student4", "accepted"),
    ]
    assert trail[-2]["reason"] == "changed: capacity, title"
    mine = node.client.get("/audit?student_id=4", headers=admin).json()
    assert [r["action"] for r in mine["items"]] == ["enroll", "hold-remove", "hold-add"]
    assert node.client.get("/audit?student_id=four", headers=admin).status_code == 422
    assert node.client.get("/audit", headers=node.auth("student", 4)).status_code == 403


def test_the_batch_endpoint_decides_in_order_and_once_per_request_id(node: Node) -> None:
    admin = node.auth("admin")
    made = node.client.post("/courses", json=course("BA100", capacity=1), headers=admin).json()
    now = time.time()
    windows = {"windows": [{"opens_at": now - 10, "closes_at": now + 600, "drop_deadline": now + 600}]}
    node.client.put("/windows", json=windows, headers=admin)

    def item(rid: str, student: int, admitted_at: float = now, name: str = "queue_request_id") -> dict[str, Any]:
        return {
            name: rid,
            "action": "enroll",
            "student_id": student,
            "course_id": made["id"],
            "actor": f"s{student}",
            "admitted_at": admitted_at,
        }

    batch = {
        "timeout_seconds": 30,
        "requests": [
            item("req-0001", 1),
            item("req-0002", 2),
            item("req-0003", 3, admitted_at=now - 31, name="request_id"),
        ],  # (the name before: accepted)
    }
    first = node.client.post("/internal/ledger/batch", json=batch, headers=node.internal())
    assert first.status_code == 200, first.text
    decided = [(d["queue_request_id"], d["outcome"], d["type"]) for d in first.json()["decisions"]]
    assert decided == [
        ("req-0001", "accepted", ""),
        ("req-0002", "waitlisted", ""),
        ("req-0003", "rejected", "timeout"),
    ]
    assert first.json()["decisions"][1]["waitlist_position"] == 1
    again = node.client.post("/internal/ledger/batch", json=batch, headers=node.internal()).json()["decisions"]
    assert [d["seq"] for d in again] == [d["seq"] for d in first.json()["decisions"]]
    assert node.client.get(f"/courses/{made['id']}", headers=admin).json()["taken"] == 1
    bad = node.client.post(
        "/internal/ledger/batch", json={"timeout_seconds": 30, "requests": []}, headers=node.internal()
    )
    assert bad.status_code == 422
    assert node.client.post("/internal/ledger/batch", json=batch).status_code == 401


def test_prerequisites_name_other_courses_of_the_catalogue(node: Node) -> None:
    """Issue 15: a course requiring an unknown code, itself, or (through others) itself could
    never be taken: 422 naming `prerequisites`, and nothing changed."""
    admin = node.auth("admin")
    base = node.client.post("/courses", json=course("BA100"), headers=admin).json()
    unknown = node.client.post("/courses", json=course("BA200", prerequisites=["BA100", "NOPE1"]), headers=admin)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "prerequisites"
    assert "NOPE1" in unknown.json()["detail"]
    itself = node.client.post("/courses", json=course("BA300", prerequisites=["BA300"]), headers=admin)
    assert (itself.status_code, itself.json()["errors"][0]["field"]) == (422, "prerequisites")
    assert [c["code"] for c in node.client.get("/courses", headers=admin).json()["items"]] == ["BA100"]
    second = node.client.post("/courses", json=course("BA200", prerequisites=["BA100"]), headers=admin).json()
    cycle = node.client.patch(f"/courses/{base['id']}", json={"prerequisites": ["BA200"]}, headers=admin)
    assert (cycle.status_code, cycle.json()["errors"][0]["field"]) == (422, "prerequisites")
    assert "BA100 -> BA200 -> BA100" in cycle.json()["detail"]
    missing = node.client.patch(f"/courses/{second['id']}", json={"prerequisites": ["ZZ999"]}, headers=admin)
    assert missing.status_code == 422
    assert node.client.get(f"/courses/{base['id']}", headers=admin).json()["prerequisites"] == []
    assert node.client.get(f"/courses/{second['id']}", headers=admin).json()["prerequisites"] == ["BA100"]
    # Nor may a course others require be deleted from under them.
    required = node.client.delete(f"/courses/{base['id']}", headers=admin)
    assert (required.status_code, required.json()["required_by"]) == (409, ["BA200"])
    assert node.client.delete(f"/courses/{second['id']}", headers=admin).status_code == 204
    assert node.client.delete(f"/courses/{base['id']}", headers=admin).status_code == 204


def test_course_import_checks_prerequisites_and_reports_every_problem_of_a_row(node: Node) -> None:
    admin = node.auth("admin")
    csv_headers = {**admin, "content-type": "text/csv"}
    node.client.post("/courses", json=course("OLD1"), headers=admin)
    header = "code,title,credits,capacity,meetings,prerequisites\n"
    bad = (
        header
        + "PR100,Base,3,30,,OLD1\n"  # 2: fine (a prerequisite in the catalogue)
        + "PR200,Next,3,30,,PR100 PR900\n"  # 3: PR900 is nowhere
        + "PR300,Self,3,30,,PR300\n"  # 4: requires itself
        + "PR400,Loop,3,30,,PR500\n"  # 5: PR400 -> PR500 -> PR400
        + "PR500,Loop,3,30,,PR400\n"  # 6: the same cycle
        + "OLD1,Taken,lots,30,Someday,\n"  # 7: credits, meetings, and the code exists
        + "PR600,Bad,x,30,,\n"  # 8: credits
        + "PR600,Again,3,30,,\n"  # 9: repeats line 8, which was invalid itself
    )
    job = job_outcome(node.client, node.client.post("/courses/import", content=bad, headers=csv_headers), admin)
    assert job["status"] == "failed", job
    assert {(e["line"], e["field"]) for e in job["errors"]} == {
        (3, "prerequisites"),
        (4, "prerequisites"),
        (5, "prerequisites"),
        (6, "prerequisites"),
        (7, "credits"),
        (7, "meetings"),
        (7, "code"),
        (8, "credits"),
        (9, "code"),
    }
    assert [c["code"] for c in node.client.get("/courses", headers=admin).json()["items"]] == ["OLD1"]
