"""The registrar's desk, rosters and exports on an in-process course_data node.

Names live in the login service: here the directory's one call to login is replaced by a
table of people (`people`), and everything above it (resolve, rosters, exports) is real.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from services.common import directory
from services.common.context import NodeContext
from services.common.directory import Person
from tests.api.registrar_kit import Node, service_node

PEOPLE = {
    5: Person(5, "ada", "student", "Ada Lovelace", "ada@uni.example", "S0005", "2024"),
    6: Person(6, "bob", "student", "=cmd()", "bob@uni.example", "S0006", "2024"),
    7: Person(7, "cy", "student", "Cy Young", "cy@uni.example", "S0007", None),
    8: Person(8, "dee", "student", "Dee Dee", "dee@uni.example", "S0008", None, "CS", 4, "final-year"),
    20: Person(20, "turing", "teacher", "Alan Turing", "alan@uni.example", None, None),
    21: Person(21, "hopper", "teacher", "Grace Hopper", "grace@uni.example", None, None),
}


@pytest.fixture
def node(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Node]:
    async def lookup(ctx: NodeContext, ids: Iterable[int], names: Iterable[str]) -> list[Person]:
        wanted, named = set(ids), set(names)
        return [p for p in PEOPLE.values() if p.id in wanted or p.username in named or p.student_number in named]

    monkeypatch.setattr(directory, "_lookup", lookup)
    with service_node("course_data", tmp_path, redis_url) as made:
        admin = made.auth("admin", 1, name="registrar")
        now = time.time()
        windows = {"windows": [{"opens_at": now - 60, "closes_at": now + 3600, "drop_deadline": now + 7200}]}
        assert made.client.put("/windows", json=windows, headers=admin).status_code == 200
        yield made


def admin(node: Node) -> dict[str, str]:
    return node.auth("admin", 1, name="registrar")


def add_course(node: Node, code: str, capacity: int = 1, teacher_id: int | None = None, **fields: Any) -> int:
    body = {"code": code, "title": f"Course {code}", "credits": 3, "capacity": capacity, **fields}
    if teacher_id is not None:
        body["teacher_id"] = teacher_id
    made = node.client.post("/courses", json=body, headers=admin(node))
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def desk(node: Node, ref: str | int, action: str, **body: Any) -> Any:
    return node.client.post(f"/desk/students/{ref}/{action}", json=body, headers=admin(node))


def ledger_rows(node: Node, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(f"sqlite:///{node.config.data_dir / 'db' / 'course_data.db'}")
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def test_a_desk_action_without_a_reason_is_refused_and_changes_nothing(node: Node) -> None:
    course_id = add_course(node, "CS101", capacity=5)
    before = ledger_rows(node, "SELECT count(*) FROM ledger_audit")
    for body in (
        {"course_id": course_id},
        {"course_id": course_id, "reason": ""},
        {"course_id": course_id, "reason": "  "},
    ):
        refused = desk(node, "S0005", "enroll", **body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "reason"
    unknown = desk(node, "S0005", "enroll", course_id=course_id, reason="late add", overrides=["everything"])
    assert unknown.status_code == 422
    assert ledger_rows(node, "SELECT count(*) FROM enrollments") == [(0,)]
    assert ledger_rows(node, "SELECT count(*) FROM ledger_audit") == before


def test_only_admins_use_the_desk(node: Node) -> None:
    course_id = add_course(node, "CS101")
    for role in ("student", "teacher"):
        who = node.auth(role, 5)
        assert node.client.get("/desk/students/5", headers=who).status_code == 403
        body = {"course_id": course_id, "reason": "x"}
        assert node.client.post("/desk/students/5/enroll", json=body, headers=who).status_code == 403
    assert node.client.get("/desk/students/S9999", headers=admin(node)).status_code == 404
    assert node.client.get("/desk/students/turing", headers=admin(node)).status_code == 404  # not a student


def test_the_capacity_override_takes_a_seat_past_capacity_and_is_audited(node: Node) -> None:
    course_id = add_course(node, "CS101", capacity=1)
    assert desk(node, 7, "enroll", course_id=course_id, reason="first").json()["outcome"] == "accepted"
    waiting = desk(node, "S0005", "enroll", course_id=course_id, reason="asked at the desk")
    assert waiting.json()["outcome"] == "waitlisted"  # no override: the seat guard and the waitlist hold
    assert desk(node, "dee", "enroll", course_id=course_id, reason="second").json()["outcome"] == "waitlisted"
    forced = desk(node, "dee", "enroll", course_id=course_id, reason="dean's approval", overrides=["capacity"])
    assert forced.status_code == 200, forced.text
    assert forced.json()["outcome"] == "accepted"
    assert forced.json()["via_permit"] is True
    assert forced.json()["student"]["student_number"] == "S0008"
    standing = {k: forced.json()["student"][k] for k in ("program", "year", "priority_group")}
    assert standing == {"program": "CS", "year": 4, "priority_group": "final-year"}
    assert ledger_rows(node, f"SELECT taken, capacity FROM courses WHERE id = {course_id}") == [(2, 1)]
    # The counter counts every enrolled student: a drop leaves 1 of 1 taken, so no one is promoted yet.
    dropped = desk(node, 7, "drop", course_id=course_id, reason="left the programme")
    assert dropped.json()["outcome"] == "accepted"
    assert ledger_rows(node, f"SELECT student_id FROM enrollments WHERE course_id = {course_id}") == [(8,)]
    audit = node.client.get("/audit?student_id=8&action=enroll", headers=admin(node)).json()["items"]
    assert audit[0]["actor"] == "registrar"
    assert audit[0]["overrides"] == "capacity"
    assert audit[0]["reason"] == "dean's approval"
    assert audit[0]["outcome"] == "accepted"


def test_a_named_override_skips_its_rule_and_no_other(node: Node) -> None:
    monday = [{"weekday": 0, "start": "09:00", "end": "10:00"}]
    held = add_course(node, "CS101", capacity=5, meetings=monday)
    clash = add_course(node, "CS201", capacity=5, meetings=monday, prerequisites=["CS101"])
    assert desk(node, 5, "enroll", course_id=held, reason="r").json()["outcome"] == "accepted"
    refused = desk(node, 5, "enroll", course_id=clash, reason="r", overrides=["time-conflict"])
    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/prerequisites-missing"  # the conflict was skipped, not this
    refused = desk(node, 5, "enroll", course_id=clash, reason="r", overrides=["prerequisites"])
    assert refused.json()["type"] == "/problems/time-conflict"
    assert refused.json()["overrides"] == ["prerequisites"]
    both = desk(node, 5, "enroll", course_id=clash, reason="approved", overrides=["time-conflict", "prerequisites"])
    assert both.json()["outcome"] == "accepted", both.text
    records = node.client.get("/audit?student_id=5&course_id=" + str(clash), headers=admin(node)).json()["items"]
    assert [(r["outcome"], r["overrides"]) for r in records] == [
        ("accepted", "prerequisites,time-conflict"),
        ("rejected:time-conflict", "prerequisites"),
        ("rejected:prerequisites-missing", "time-conflict"),
    ]


def test_a_swap_at_the_desk_and_the_students_picture(node: Node) -> None:
    first = add_course(node, "CS101", capacity=5)
    second = add_course(node, "MA101", capacity=5)
    full = add_course(node, "PH101", capacity=0)
    assert desk(node, "S0005", "enroll", course_id=first, reason="r").json()["outcome"] == "accepted"
    swapped = desk(node, "S0005", "swap", drop_course_id=first, add_course_id=second, reason="changed major")
    assert swapped.json()["outcome"] == "accepted", swapped.text
    assert desk(node, "S0005", "enroll", course_id=full, reason="r").json()["outcome"] == "waitlisted"
    hold = {"student_id": 5, "reason": "library fine"}
    assert node.client.post("/holds", json=hold, headers=admin(node)).status_code == 201
    done = node.client.post("/students/5/completed", json={"course_codes": ["CS100"]}, headers=admin(node))
    assert done.status_code in (200, 201), done.text

    seen = node.client.get("/desk/students/S0005", headers=admin(node))
    assert seen.status_code == 200, seen.text
    picture = seen.json()
    assert picture["student"]["full_name"] == "Ada Lovelace"
    assert [c["code"] for c in picture["enrolled"]] == ["MA101"]
    assert [(c["code"], c["position"]) for c in picture["waitlisted"]] == [("PH101", 1)]
    assert [h["reason"] for h in picture["holds"]] == ["library fine"]
    assert picture["completed"] == ["CS100"]
    assert picture["queue_requests"] == []
    assert picture["open_queue_requests"] is None  # no queue in this test
    assert [a["action"] for a in picture["audit"]][:3] == ["completed-add", "hold-add", "enroll"]
    assert node.client.get("/desk/students/5", headers=admin(node)).json()["student"]["id"] == 5
    # The hold is a rule no override skips.
    blocked = desk(node, 5, "enroll", course_id=first, reason="r", overrides=["capacity", "window"])
    assert blocked.json()["type"] == "/problems/hold"


def test_rosters_show_people_and_the_waitlist_in_order(node: Node) -> None:
    course_id = add_course(node, "CS101", capacity=1, teacher_id=20)
    other = add_course(node, "MA101", capacity=1, teacher_id=21)
    for ref in ("S0006", "S0008", "S0007"):
        desk(node, ref, "enroll", course_id=course_id, reason="r")
    roster = node.client.get(f"/courses/{course_id}/roster", headers=admin(node))
    assert roster.status_code == 200, roster.text
    body = roster.json()
    assert [(s["student_number"], s["full_name"], s["email"]) for s in body["students"]] == [
        ("S0006", "=cmd()", "bob@uni.example")
    ]
    assert [(w["position"], w["student_number"], w["full_name"]) for w in body["waitlist"]] == [
        (1, "S0008", "Dee Dee"),
        (2, "S0007", "Cy Young"),
    ]
    as_csv = node.client.get(f"/courses/{course_id}/roster", headers={**admin(node), "Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["list"], r["position"], r["full_name"]) for r in rows] == [
        ("enrolled", "1", "'=cmd()"),
        ("waitlist", "1", "Dee Dee"),
        ("waitlist", "2", "Cy Young"),
    ]
    # Admins read every roster; a teacher only their own; a student none.
    assert node.client.get(f"/courses/{other}/roster", headers=admin(node)).status_code == 200
    turing = node.auth("teacher", 20)
    assert node.client.get(f"/courses/{course_id}/roster", headers=turing).status_code == 200
    assert node.client.get(f"/courses/{other}/roster", headers=turing).status_code == 404
    assert node.client.get(f"/courses/{course_id}/roster", headers=node.auth("student", 6)).status_code == 403
    internal = node.client.get(f"/internal/teaching/20/courses/{course_id}/roster", headers=node.internal())
    assert internal.json()["waitlist"][0]["full_name"] == "Dee Dee"  # what the teacher service relays


def test_every_enrollment_exported_as_json_and_csv(node: Node) -> None:
    first = add_course(node, "CS101", capacity=5, title='=HYPERLINK("http://x")')
    second = add_course(node, "AR101", capacity=5)
    desk(node, "S0005", "enroll", course_id=first, reason="r")
    desk(node, "S0006", "enroll", course_id=first, reason="r")
    desk(node, "S0005", "enroll", course_id=second, reason="r")
    exported = node.client.get("/exports/enrollments", headers=admin(node))
    assert exported.status_code == 200, exported.text
    body = exported.json()
    assert body["term"] is None
    assert body["count"] == 3
    assert [(i["course_code"], i["student_number"]) for i in body["items"]] == [
        ("AR101", "S0005"),
        ("CS101", "S0005"),
        ("CS101", "S0006"),
    ]
    as_csv = node.client.get("/exports/enrollments?format=csv", headers=admin(node))
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["course_code"], r["full_name"], r["email"]) for r in rows] == [
        ("AR101", "Ada Lovelace", "ada@uni.example"),
        ("CS101", "Ada Lovelace", "ada@uni.example"),
        ("CS101", "'=cmd()", "bob@uni.example"),
    ]
    assert rows[1]["course_title"] == '\'=HYPERLINK("http://x")'
    assert "T" in rows[0]["enrolled_at"]
    assert rows[0]["enrolled_at"].endswith("+00:00")
    refused = node.client.get("/exports/enrollments?term=2026-fall", headers=admin(node))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "term"
    assert node.client.get("/exports/enrollments", headers=node.auth("teacher", 20)).status_code == 403


def test_the_desk_takes_a_section_group_for_a_student_past_a_full_section(node: Node) -> None:
    lecture = add_course(node, "BIO1", section="L01", capacity=1)
    lab = add_course(node, "BIO1", section="B01", kind="lab", capacity=0)
    body: dict[str, Any] = {"section_ids": [lecture, lab], "reason": "lab seat agreed with the department"}
    full = node.client.post("/desk/students/S0005/enroll", json=body, headers=admin(node))
    assert (full.status_code, full.json()["outcome"]) == (200, "waitlisted")  # the group waits for its lab
    alone = node.client.post(
        "/desk/students/S0005/enroll", json={"course_id": lecture, "reason": "x"}, headers=admin(node)
    )
    assert alone.json()["type"] == "/problems/section-required"
    taken = node.client.post(
        "/desk/students/S0005/enroll", json={**body, "overrides": ["capacity"]}, headers=admin(node)
    )
    assert taken.status_code == 200, taken.text
    picture = node.client.get("/desk/students/S0005", headers=admin(node)).json()
    assert sorted(c["section"] for c in picture["enrolled"]) == ["B01", "L01"]
    assert picture["waitlisted"] == []  # (held now: the group's waitlist rows are gone)
