"""Terms in course_data: their CRUD, codes unique per term, copying into the next term, and a
student's limits, windows and courses counted per term (on SQLite, PostgreSQL and MariaDB)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.common import directory
from tests.api.registrar_kit import Node, job_outcome, service_node
from tests.databases import new_database
from tests.spec_check import SpecCheck


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def node(
    request: pytest.FixtureRequest, tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Node]:
    async def nobody(*args: object) -> list[directory.Person]:  # (names live in login: not needed here)
        return []

    monkeypatch.setattr(directory, "_lookup", nobody)
    env = {}
    if request.param != "sqlite":
        env["CS_SERVICES__COURSE_DATA__DATABASE_URL"] = asyncio.run(new_database(request, request.param, tmp_path))
    with service_node("course_data", tmp_path, redis_url, **env) as made:
        yield made


def course(code: str, **fields: Any) -> dict[str, Any]:
    return {"code": code, "title": f"Course {code}", "credits": 3, "capacity": 2, **fields}


SPRING = {
    "code": "2027-spring",
    "name": "Spring 2027",
    "starts_on": "2027-01-11",
    "ends_on": "2027-04-30",
    "timezone": "Europe/Berlin",
    "drop_deadline": "2027-02-01T23:59:00+01:00",
}


def new_term(node: Node, **fields: Any) -> dict[str, Any]:
    made = node.client.post("/terms", json={**SPRING, **fields}, headers=node.auth("admin"))
    assert made.status_code == 201, made.text
    answer: dict[str, Any] = made.json()
    return answer


def enroll(node: Node, student: int, course_id: int) -> dict[str, Any]:
    body = {"action": "enroll", "student_id": student, "course_id": course_id, "actor": "tests"}
    answer: dict[str, Any] = node.client.post("/internal/ledger", json=body, headers=node.internal()).json()
    return answer


def open_windows(node: Node, term: str | None = None) -> None:
    now = time.time()
    body = {"windows": [{"opens_at": now - 10, "closes_at": now + 600, "drop_deadline": now + 600}]}
    query = f"?term={term}" if term else ""
    assert node.client.put(f"/windows{query}", json=body, headers=node.auth("admin")).status_code == 200


def test_terms_are_created_read_changed_and_one_is_current(node: Node) -> None:
    admin = node.auth("admin")
    [default] = node.client.get("/terms", headers=admin).json()["items"]
    assert (default["id"], default["code"], default["current"], default["timezone"]) == (1, "default", True, "UTC")
    assert default["dates_from_settings"] is True

    spring = new_term(node)
    assert (spring["starts_on"], spring["ends_on"], spring["current"]) == ("2027-01-11", "2027-04-30", False)
    assert spring["starts_at"] == "2027-01-11T00:00:00+01:00"
    assert spring["ends_at"] == "2027-05-01T00:00:00+02:00"  # (summer time by then)
    assert spring["drop_deadline"] == "2027-02-01T23:59:00+01:00"
    created = dt.datetime.fromisoformat(spring["created_at"])
    assert created.utcoffset() == created.astimezone(ZoneInfo("Europe/Berlin")).utcoffset()  # the term's zone
    assert node.client.post("/terms", json=SPRING, headers=admin).status_code == 409

    for wrong, field in (
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"ends_on": "2027-01-01"}, ""),
        ({"drop_deadline": "2027-02-01T23:59:00"}, "drop_deadline"),  # no offset: not one instant
        ({"code": "all"}, "code"),  # the filter of every term
        ({"code": "2027"}, "code"),  # would read as an id
    ):
        refused = node.client.post("/terms", json={**SPRING, "code": "x-1"} | wrong, headers=admin)
        assert refused.status_code == 422, (wrong, refused.text)
        assert field in refused.text
    unix = node.client.post("/terms", json={**SPRING, "code": "unix", "drop_deadline": 1800000000}, headers=admin)
    assert unix.json()["drop_deadline"] == "2027-01-15T09:00:00+01:00"

    changed = node.client.patch(f"/terms/{spring['id']}", json={"current": True, "name": "Spring"}, headers=admin)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["current"], changed.json()["name"]) == (True, "Spring")
    assert [t["code"] for t in node.client.get("/terms", headers=admin).json()["items"] if t["current"]] == [
        "2027-spring"
    ]
    assert node.client.get(f"/terms/{spring['id']}", headers=admin).json()["current"] is True
    assert node.client.patch(f"/terms/{spring['id']}", json={"ends_on": "2026-01-01"}, headers=admin).status_code == 422
    assert node.client.patch(f"/terms/{spring['id']}", json={"current": False}, headers=admin).status_code == 422
    assert node.client.patch("/terms/999", json={"name": "x"}, headers=admin).status_code == 404
    assert node.client.get("/terms", headers=node.auth("student", 3)).status_code == 403


def test_a_code_is_unique_in_its_term_and_history_stays_listable(node: Node) -> None:
    admin, student = node.auth("admin"), node.auth("student", 7)
    new_term(node)
    now = node.client.post("/courses", json=course("CS101"), headers=admin)
    later = node.client.post("/courses", json=course("CS101", term="2027-spring"), headers=admin)
    assert (now.status_code, later.status_code) == (201, 201), later.text
    assert (now.json()["term"], later.json()["term"]) == ("default", "2027-spring")
    assert node.client.post("/courses", json=course("CS101", term="2027-spring"), headers=admin).status_code == 409
    assert node.client.post("/courses", json=course("CS101"), headers=admin).status_code == 409
    assert node.client.post("/courses", json=course("CS102", term="nope"), headers=admin).status_code == 422

    def listed(query: str) -> list[tuple[str, str]]:
        answer = node.client.get(f"/courses?{query}", headers=student)
        assert answer.status_code == 200, answer.text
        return [(c["code"], c["term"]) for c in answer.json()["items"]]

    assert listed("") == [("CS101", "default")]  # the current term
    assert listed("term=2027-spring") == [("CS101", "2027-spring")]
    assert listed("term=all") == [("CS101", "default"), ("CS101", "2027-spring")]
    assert node.client.get("/courses?term=nope", headers=student).status_code == 422


def test_courses_are_copied_into_the_next_term_without_their_students(node: Node) -> None:
    admin = node.auth("admin")
    monday = [{"weekday": 0, "start": "09:00", "end": "10:00"}]
    base = node.client.post("/courses", json=course("MA101", meetings=monday), headers=admin).json()
    rules = {"corequisites": ["MA101"], "restrictions": {"program": ["MATH"]}, "consent_required": True}
    made = node.client.post(
        "/courses",
        json=course("MA201", prerequisites=["MA101"], location="Hall B", meetings=monday, **rules),
        headers=admin,
    ).json()
    open_windows(node)
    assert enroll(node, 5, base["id"])["outcome"] == "accepted"
    spring = new_term(node)

    one = node.client.post(f"/courses/{made['id']}/copy", json={"to_term": "2027-spring"}, headers=admin)
    assert one.status_code == 201, one.text
    copied = node.client.get(f"/courses/{one.json()['created']['MA201']}", headers=admin).json()
    assert {k: copied[k] for k in ("term", "meetings", "prerequisites", "location", "taken")} == {
        "term": "2027-spring",
        "meetings": made["meetings"],
        "prerequisites": ["MA101"],
        "location": "Hall B",
        "taken": 0,
    }
    assert {k: copied[k] for k in ("corequisites", "restrictions", "consent_required")} == {
        k: made[k] for k in ("corequisites", "restrictions", "consent_required")
    }  # the registrar's rules come along
    assert made["consent_required"] is True
    again = node.client.post(f"/terms/{1}/copy", json={"to_term": spring["id"]}, headers=admin)
    assert again.status_code == 409
    assert again.json()["codes"] == ["MA201"]  # nothing copied
    assert [c["code"] for c in node.client.get("/courses?term=2027-spring", headers=admin).json()["items"]] == ["MA201"]
    fall = new_term(node, code="2027-fall", starts_on="2027-09-01", ends_on="2027-12-20")
    whole = node.client.post("/terms/1/copy", json={"to_term": "2027-fall"}, headers=admin)
    assert whole.status_code == 201, whole.text
    assert sorted(whole.json()["created"]) == ["MA101", "MA201"]
    fall_courses = node.client.get(f"/courses?term={fall['id']}", headers=admin).json()["items"]
    assert [(c["code"], c["taken"]) for c in fall_courses] == [("MA101", 0), ("MA201", 0)]
    assert node.client.post("/terms/1/copy", json={"to_term": "nope"}, headers=admin).status_code == 422
    assert node.client.post("/terms/1/copy", json={"to_term": "default"}, headers=admin).status_code == 409
    assert node.client.post("/courses/999/copy", json={"to_term": "2027-fall"}, headers=admin).status_code == 404


def test_limits_conflicts_and_windows_count_per_term(node: Node) -> None:
    """20 credits in each of two terms and the same hour in both are fine; the limit (24) and a
    clash are a term's. A course is taken under its own term's windows."""
    admin = node.auth("admin")
    new_term(node)
    monday = [{"weekday": 0, "start": "09:00", "end": "10:00"}]
    now_big = node.client.post("/courses", json=course("BIG1", credits=20, meetings=monday), headers=admin).json()
    later_big = node.client.post(
        "/courses", json=course("BIG1", credits=20, meetings=monday, term="2027-spring"), headers=admin
    ).json()
    later_small = node.client.post("/courses", json=course("SM1", credits=5, term="2027-spring"), headers=admin).json()
    now_clash = node.client.post("/courses", json=course("CL1", credits=1, meetings=monday), headers=admin).json()
    open_windows(node)  # the current term's only

    assert enroll(node, 4, now_big["id"])["outcome"] == "accepted"
    assert enroll(node, 4, later_big["id"])["type"] == "window-closed"  # the spring term has no window yet
    open_windows(node, "2027-spring")
    assert enroll(node, 4, later_big["id"])["outcome"] == "accepted"  # 20 + 20, at the same hour: other terms
    assert enroll(node, 4, later_small["id"])["type"] == "credit-limit"  # 25 in spring
    assert enroll(node, 4, now_clash["id"])["type"] == "time-conflict"  # with BIG1 of the same term

    internal = node.internal()
    mine = node.client.get("/internal/students/4/courses?term=2027-spring", headers=internal).json()
    assert (mine["term"]["code"], [c["id"] for c in mine["enrolled"]]) == ("2027-spring", [later_big["id"]])
    assert mine["term"]["timezone"] == "Europe/Berlin"
    current = node.client.get("/internal/students/4/courses", headers=internal).json()
    assert (current["term"]["code"], [c["id"] for c in current["enrolled"]]) == ("default", [now_big["id"]])
    assert node.client.get("/internal/students/4/courses?term=nope", headers=internal).status_code == 422
    exported = node.client.get("/exports/enrollments?term=2027-spring", headers=admin).json()
    assert (exported["term"], [r["course_id"] for r in exported["items"]]) == ("2027-spring", [later_big["id"]])
    assert len(node.client.get("/exports/enrollments", headers=admin).json()["items"]) == 2  # every term's
    every = node.client.get("/windows?term=all", headers=admin).json()["windows"]
    assert sorted(w["term_id"] for w in every) == [1, 2]
    assert [w["term_id"] for w in node.client.get("/windows", headers=admin).json()["windows"]] == [1]


def test_the_terms_drop_deadline_ends_dropping(node: Node) -> None:
    admin = node.auth("admin")
    spring = new_term(node, drop_deadline=time.time() - 60)
    made = node.client.post("/courses", json=course("DR1", term="2027-spring"), headers=admin).json()
    open_windows(node, "2027-spring")
    assert enroll(node, 6, made["id"])["outcome"] == "accepted"
    body = {"action": "drop", "student_id": 6, "course_id": made["id"], "actor": "tests"}
    refused = node.client.post("/internal/ledger", json=body, headers=node.internal()).json()
    assert refused["type"] == "drop-deadline"
    node.client.patch(f"/terms/{spring['id']}", json={"drop_deadline": None}, headers=admin)
    assert node.client.post("/internal/ledger", json=body, headers=node.internal()).json()["outcome"] == "accepted"


def test_the_course_import_takes_a_term_column(node: Node) -> None:
    admin = node.auth("admin")
    csv_headers = {**admin, "content-type": "text/csv"}
    new_term(node)
    node.client.post("/courses", json=course("OLD1"), headers=admin)

    def upload(text: str) -> dict[str, Any]:
        return job_outcome(node.client, node.client.post("/courses/import", content=text, headers=csv_headers), admin)

    bad = upload("code,title,credits,capacity,term\nOLD1,Exists,3,3,\nNEW1,New,3,3,nope\nNEW2,New,3,3,2027-spring\n")
    assert {(e["line"], e["field"]) for e in bad["errors"]} == {(2, "code"), (3, "term")}
    good = upload("code,title,credits,capacity,term\nOLD1,Again,3,3,2027-spring\nNEW1,New,3,3,\n")
    assert good["status"] == "succeeded", good
    listed = node.client.get("/courses?term=all", headers=admin).json()["items"]
    assert sorted((c["code"], c["term"]) for c in listed) == [
        ("NEW1", "default"),
        ("OLD1", "2027-spring"),
        ("OLD1", "default"),
    ]


def test_the_terms_answers_match_the_spec(node: Node) -> None:
    """Each new or changed answer (terms, copies, courses with their term, windows per term, a
    student's courses of a term) validated against the service's own OpenAPI document."""
    admin, internal = node.auth("admin"), node.internal()
    spec = SpecCheck("course_data", node.client.get("/openapi.json", headers=internal).json())

    def call(method: str, path: str, expect: int, body: Any = None, headers: dict[str, str] = admin) -> Any:
        answer = node.client.request(method, path, json=body, headers=headers)
        assert answer.status_code == expect, answer.text
        kind = answer.headers.get("content-type", "").split(";")[0]
        assert spec.check(method, path, answer.status_code, kind, answer.content, body) == []
        return answer.json() if answer.content else None

    term = call("POST", "/terms", 201, SPRING)
    call("GET", "/terms", 200)
    call("GET", f"/terms/{term['id']}", 200)
    call("PATCH", f"/terms/{term['id']}", 200, {"drop_deadline": 1800000000, "name": "S"})
    call("PATCH", f"/terms/{term['id']}", 422, {"timezone": "Nowhere/Else"})
    made = call("POST", "/courses", 201, course("SP1", term="2027-spring"))
    call("POST", "/courses", 409, course("SP1", term="2027-spring"))
    call("GET", "/courses?term=all", 200)
    call("GET", "/courses?term=nope", 422)
    call("POST", f"/courses/{made['id']}/copy", 201, {"to_term": "default"})
    call("POST", f"/terms/{term['id']}/copy", 409, {"to_term": "default"})
    call("PUT", "/windows?term=2027-spring", 200, {"windows": [{"opens_at": 1, "closes_at": 2, "drop_deadline": 3}]})
    call("GET", "/windows?term=all", 200)
    call("GET", "/internal/students/3/courses?term=2027-spring", 200, headers=internal)
    call("GET", "/exports/enrollments?term=2027-spring", 200)
