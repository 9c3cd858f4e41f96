"""The registrar's eligibility rules through course_data's API (in-process node, people from a
table as in test_desk.py): time tickets and priority groups, corequisites, restrictions,
instructor consent; each refusal has its own type and says what would make it succeed."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from services.common import directory
from services.common.context import NodeContext
from services.common.directory import Person
from services.course_data import people
from tests.api.registrar_kit import Node, job_outcome, service_node

PEOPLE = {
    5: Person(5, "ada", "student", "Ada Lovelace", "ada@uni.example", "S0005", "2024"),
    6: Person(6, "bob", "student", "Bob", "bob@uni.example", "S0006", "2024"),
    20: Person(20, "hopper", "teacher", "Grace Hopper", "grace@uni.example", None, None),
}


@pytest.fixture
def node(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Node]:
    async def lookup(ctx: NodeContext, ids: Iterable[int], names: Iterable[str]) -> list[Person]:
        wanted, named = set(ids), set(names)
        return [p for p in PEOPLE.values() if p.id in wanted or p.username in named or p.student_number in named]

    monkeypatch.setattr(directory, "_lookup", lookup)
    monkeypatch.setattr(people, "has_directory", lambda ctx: True)  # (the table above is the directory)
    with service_node("course_data", tmp_path, redis_url) as made:
        yield made


def admin(node: Node) -> dict[str, str]:
    return node.auth("admin", 1, name="registrar")


def open_for_everyone(node: Node) -> None:
    now = time.time()
    windows = {"windows": [{"opens_at": now - 60, "closes_at": now + 3600, "drop_deadline": now + 7200}]}
    assert node.client.put("/windows", json=windows, headers=admin(node)).status_code == 200


def add_course(node: Node, code: str, **fields: Any) -> dict[str, Any]:
    body = {"code": code, "title": f"Course {code}", "credits": 3, "capacity": 5, **fields}
    made = node.client.post("/courses", json=body, headers=admin(node))
    assert made.status_code == 201, made.text
    return dict(made.json())


def enroll(node: Node, student: int, course_id: int, **standing: Any) -> dict[str, Any]:
    body = {"action": "enroll", "student_id": student, "course_id": course_id, "actor": "tests", **standing}
    answer = node.client.post("/internal/ledger", json=body, headers=node.internal())
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_corequisite_is_taken_first_or_already_completed(node: Node) -> None:
    open_for_everyone(node)
    lecture = add_course(node, "PHYS101")
    lab = add_course(node, "PHYS101L", corequisites=["PHYS101"])
    assert (lab["corequisites"], lab["restrictions"], lab["consent_required"]) == (
        ["PHYS101"],
        {"program": [], "year": [], "cohort": []},
        False,
    )
    refused = enroll(node, 5, lab["id"])
    assert (refused["outcome"], refused["type"], refused["corequisites"]) == (
        "rejected",
        "corequisites-missing",
        ["PHYS101"],
    )
    assert "enroll in PHYS101 first" in refused["reason"]
    assert enroll(node, 5, lecture["id"])["outcome"] == "accepted"
    assert enroll(node, 5, lab["id"])["outcome"] == "accepted"
    assert node.client.post("/students/6/completed", json={"course_codes": ["PHYS101"]}, headers=admin(node)).is_success
    assert enroll(node, 6, lab["id"])["outcome"] == "accepted"
    dropped = node.client.post(
        "/internal/ledger",
        json={"action": "drop", "student_id": 5, "course_id": lecture["id"], "actor": "tests"},
        headers=node.internal(),
    )
    assert dropped.json()["outcome"] == "accepted"  # the rule for drops: allowed, the lab stays


def test_a_corequisite_must_name_another_course_of_the_catalogue(node: Node) -> None:
    made = node.client.post(
        "/courses",
        json={"code": "X1", "title": "X", "credits": 1, "capacity": 1, "corequisites": ["NOPE1"]},
        headers=admin(node),
    )
    assert made.status_code == 422
    assert made.json()["errors"][0]["field"] == "corequisites"
    itself = node.client.post(
        "/courses",
        json={"code": "X1", "title": "X", "credits": 1, "capacity": 1, "corequisites": ["X1"]},
        headers=admin(node),
    )
    assert itself.status_code == 422


def test_restrictions_by_program_year_and_cohort_name_what_they_allow(node: Node) -> None:
    open_for_everyone(node)
    capstone = add_course(node, "CS499", restrictions={"program": ["CS", "SE"], "year": [4]})
    assert capstone["restrictions"] == {"program": ["CS", "SE"], "year": [4], "cohort": []}
    other = enroll(node, 5, capstone["id"], program="EE", year=4)
    assert (other["type"], other["restriction"], other["allowed"]) == ("restricted", "program", ["CS", "SE"])
    assert "yours: EE" in other["reason"]
    early = enroll(node, 5, capstone["id"], program="CS", year=2)
    assert (early["type"], early["restriction"], early["allowed"]) == ("restricted", "year", ["4"])
    assert enroll(node, 5, capstone["id"], program="CS", year=4)["outcome"] == "accepted"
    cohort_only = add_course(node, "CS150", restrictions={"cohort": [2025]})
    assert enroll(node, 6, cohort_only["id"], cohort=2024)["type"] == "restricted"
    patched = node.client.patch(f"/courses/{cohort_only['id']}", json={"restrictions": {}}, headers=admin(node))
    assert patched.json()["restrictions"] == {"program": [], "year": [], "cohort": []}
    assert enroll(node, 6, cohort_only["id"], cohort=2024)["outcome"] == "accepted"


def test_an_instructor_consent_course_takes_the_teachers_consent_permit(node: Node) -> None:
    open_for_everyone(node)
    seminar = add_course(node, "CS590", teacher_id="hopper", consent_required=True)
    refused = enroll(node, 5, seminar["id"])
    assert (refused["type"], refused["permit"]) == ("consent-required", "consent")
    assert "ask the teacher (Grace Hopper) for a consent permit" in refused["reason"]
    permit = node.client.post(
        f"/internal/teaching/20/courses/{seminar['id']}/permits",
        json={"student_id": "S0005", "consent": True, "capacity": False},
        headers=node.internal(),
    )
    assert permit.status_code == 201, permit.text
    assert permit.json()["consent"] is True
    assert enroll(node, 5, seminar["id"])["outcome"] == "accepted"
    assert enroll(node, 6, seminar["id"])["type"] == "consent-required"  # a permit is one student's


def test_a_time_ticket_lets_one_student_in_before_their_cohort(node: Node) -> None:
    now = time.time()
    later = now + 3600
    windows = {
        "windows": [
            {"cohort": 2024, "opens_at": later, "closes_at": later + 3600, "drop_deadline": later + 7200},
            {"student_id": "S0005", "opens_at": now - 60, "closes_at": later + 3600, "drop_deadline": later + 7200},
        ]
    }
    answer = node.client.put("/windows", json=windows, headers=admin(node))
    assert answer.status_code == 200, answer.text
    assert {(w["cohort"], w["student_id"]) for w in answer.json()["windows"]} == {(2024, None), (None, 5)}
    course = add_course(node, "CS101")
    assert enroll(node, 5, course["id"], cohort=2024)["outcome"] == "accepted"
    closed = enroll(node, 6, course["id"], cohort=2024)
    assert closed["type"] == "window-closed"
    opens = datetime.fromisoformat(closed["opens_at"])  # ISO 8601 with its offset
    assert opens.utcoffset() is not None
    assert abs(opens.timestamp() - later) < 1
    assert closed["opens_at"] in closed["reason"]


def test_a_priority_group_registers_in_its_own_window(node: Node) -> None:
    now = time.time()
    later = now + 3600
    windows = {
        "windows": [
            {"opens_at": later, "closes_at": later + 3600, "drop_deadline": later + 7200},
            {"priority_group": "final-year", "opens_at": now - 60, "closes_at": later, "drop_deadline": later + 7200},
        ]
    }
    assert node.client.put("/windows", json=windows, headers=admin(node)).status_code == 200
    course = add_course(node, "CS101")
    assert enroll(node, 5, course["id"], priority_group="final-year")["outcome"] == "accepted"
    assert enroll(node, 6, course["id"])["type"] == "window-closed"


def test_a_window_has_one_audience_and_a_ticket_names_a_student(node: Node) -> None:
    now = time.time()
    both = {"cohort": 2024, "priority_group": "final", "opens_at": now, "closes_at": now + 1, "drop_deadline": now + 1}
    assert node.client.put("/windows", json={"windows": [both]}, headers=admin(node)).status_code == 422
    nobody = {"student_id": "S9999", "opens_at": now, "closes_at": now + 1, "drop_deadline": now + 1}
    refused = node.client.put("/windows", json={"windows": [nobody]}, headers=admin(node))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "windows.0.student_id"
    teacher = {**nobody, "student_id": "hopper"}
    assert node.client.put("/windows", json={"windows": [teacher]}, headers=admin(node)).status_code == 422


def test_the_desk_overrides_the_new_rules_by_name(node: Node) -> None:
    open_for_everyone(node)
    lab = add_course(node, "LAB1", corequisites=[add_course(node, "LEC1")["code"]])
    closed_off = add_course(node, "CS499", restrictions={"program": ["CS"]}, consent_required=True)

    def desk(course_id: int, *overrides: str) -> Any:
        body = {"course_id": course_id, "reason": "registrar decision", "overrides": list(overrides)}
        return node.client.post("/desk/students/ada/enroll", json=body, headers=admin(node))

    refused = desk(lab["id"])
    assert refused.status_code == 409
    assert (refused.json()["type"], refused.json()["corequisites"]) == ("/problems/corequisites-missing", ["LEC1"])
    assert desk(lab["id"], "corequisites").status_code == 200
    restricted = desk(closed_off["id"])
    assert (restricted.json()["type"], restricted.json()["allowed"]) == ("/problems/restricted", ["CS"])
    no_consent = desk(closed_off["id"], "restrictions")
    assert (no_consent.json()["type"], no_consent.json()["permit"]) == ("/problems/consent-required", "consent")
    assert desk(closed_off["id"], "restrictions", "consent").status_code == 200


def test_the_courses_import_sets_corequisites_restrictions_and_consent(node: Node) -> None:
    def upload(text: str) -> dict[str, Any]:
        answer = node.client.post("/courses/import", content=text, headers={**admin(node), "content-type": "text/csv"})
        return job_outcome(node.client, answer, admin(node))

    header = "code,title,credits,capacity,corequisites,consent_required,restrict_program,restrict_year\n"
    bad = upload(header + "LAB2,Lab,1,5,NOPE9,maybe,,x\n")
    assert {(e["line"], e["field"].split(".")[0]) for e in bad["errors"]} == {
        (2, "consent_required"),
        (2, "restrictions"),
    }
    missing = upload(header + "LAB2,Lab,1,5,NOPE9,false,,\n")
    assert [(e["line"], e["field"]) for e in missing["errors"]] == [(2, "corequisites")]
    job = upload(header + "LEC2,Lecture,3,5,,false,,\nLAB2,Lab,1,5,LEC2,true,CS SE,3 4\n")
    assert job["status"] == "succeeded", job
    lab = node.client.get(f"/courses/{job['result']['ids']['LAB2']}", headers=admin(node)).json()
    assert (lab["corequisites"], lab["consent_required"]) == (["LEC2"], True)
    assert lab["restrictions"] == {"program": ["CS", "SE"], "year": [3, 4], "cohort": []}


def test_a_restricted_courses_waitlist_is_served_as_any_other(node: Node) -> None:
    """Restrictions are checked when a student joins the waitlist; promotion serves them in order."""
    open_for_everyone(node)
    seminar = add_course(node, "CS498", capacity=1, restrictions={"program": ["CS"]})
    assert enroll(node, 5, seminar["id"], program="CS")["outcome"] == "accepted"
    assert enroll(node, 6, seminar["id"], program="EE")["type"] == "restricted"  # not even the waitlist
    assert enroll(node, 6, seminar["id"], program="CS")["outcome"] == "waitlisted"
    dropped = node.client.post(
        "/internal/ledger",
        json={"action": "drop", "student_id": 5, "course_id": seminar["id"], "actor": "tests"},
        headers=node.internal(),
    )
    assert dropped.json()["outcome"] == "accepted"
    mine = node.client.get("/internal/students/6/courses", headers=node.internal())
    assert [c["code"] for c in mine.json()["enrolled"]] == ["CS498"]


def test_windows_take_iso_8601_or_unix_seconds_and_answer_iso_8601(node: Node) -> None:
    """Instants (issue 15, item 8): a request gives ISO 8601 with an offset or Unix seconds;
    the answer gives ISO 8601 with an offset; a time with no offset is refused, nothing set."""
    given = {
        "opens_at": "2027-01-15T09:00:00+01:00",
        "closes_at": "2027-01-16T08:00:00Z",
        "drop_deadline": 1_800_172_800,
    }
    assert node.client.put("/windows", json={"windows": [given]}, headers=admin(node)).status_code == 200
    [shown] = node.client.get("/windows", headers=admin(node)).json()["windows"]
    assert (shown["opens_at"], shown["closes_at"], shown["drop_deadline"]) == (
        "2027-01-15T08:00:00+00:00",
        "2027-01-16T08:00:00+00:00",
        "2027-01-17T08:00:00+00:00",
    )
    naive = {**given, "opens_at": "2027-01-15T09:00:00"}
    refused = node.client.put("/windows", json={"windows": [naive]}, headers=admin(node))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "windows.0.opens_at"
    assert "offset" in refused.json()["errors"][0]["message"]
    assert node.client.get("/windows", headers=admin(node)).json()["windows"] == [shown]
