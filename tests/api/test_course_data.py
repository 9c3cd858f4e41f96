"""course_data in-process: the catalogue, course administration, completed courses."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.registrar_kit import Node, service_node


@pytest.fixture
def node(tmp_path: Path, redis_url: str) -> Iterator[Node]:
    with service_node("course_data", tmp_path, redis_url) as made:
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
    node.client.post("/courses", json=course("CS101"), headers=admin)
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

    bad_csv = "student_id,course_code\n5,CS201\nfive,CS202\n6,not a code\n"
    refused = node.client.post("/completed/import", content=bad_csv, headers={**admin, "content-type": "text/csv"})
    assert refused.status_code == 422
    assert {(e["line"], e["field"]) for e in refused.json()["errors"]} == {(3, "student_id"), (4, "course_code")}
    assert node.client.get("/students/5/completed", headers=admin).json()["course_codes"] == ["CS101"]  # nothing
    good_csv = "student_id,course_code\n5,CS201\n5,CS101\n6,CS101\n"
    recorded = node.client.post("/completed/import", content=good_csv, headers={**admin, "content-type": "text/csv"})
    assert recorded.json() == {"recorded": 3}
    assert enroll(5)["outcome"] == "accepted"
    assert node.client.delete("/students/6/completed/CS101", headers=admin).status_code == 204
    assert node.client.delete("/students/6/completed/CS101", headers=admin).status_code == 404
