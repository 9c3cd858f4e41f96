"""A student's plan in course_data (issue 16): saved whole with every bad field named, read,
deleted, and validated by the ledger's own rules, item after item, nothing changed."""

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


def made_course(node: Node, code: str, **fields: Any) -> int:
    body = {"code": code, "title": f"Course {code}", "credits": 3, "capacity": 2, **fields}
    answer = node.client.post("/courses", json=body, headers=node.auth("admin"))
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def plan_of(node: Node, student: int, method: str = "GET", body: Any = None, path: str = "") -> Any:
    return node.client.request(method, f"/internal/students/{student}/plan{path}", json=body, headers=node.internal())


def test_a_plan_is_saved_whole_read_and_deleted_and_bad_fields_are_named(node: Node) -> None:
    a, b, c = (made_course(node, code) for code in ("CS101", "CS102", "CS103"))
    empty = plan_of(node, 5)
    assert (empty.status_code, empty.json()) == (200, {"items": [], "updated_at": None})
    saved = plan_of(node, 5, "PUT", {"items": [{"course_id": a, "alternatives": [b]}, {"course_id": c}]})
    assert saved.status_code == 200, saved.text
    assert [(i["position"], i["course_id"], i["alternatives"]) for i in saved.json()["items"]] == [
        (1, a, [b]),
        (2, c, []),
    ]
    assert plan_of(node, 5).json() == saved.json()
    assert plan_of(node, 6).json()["items"] == []  # another student's plan is their own

    def refused(body: Any) -> set[str]:
        answer = plan_of(node, 5, "PUT", body)
        assert answer.status_code == 422, answer.text
        return {e["field"] for e in answer.json()["errors"]}

    assert refused({"items": [{"course_id": a}, {"course_id": 999, "alternatives": [998]}]}) == {
        "items.1.course_id",
        "items.1.alternatives.0",
    }
    assert refused({"items": [{"course_id": a, "alternatives": [b]}, {"course_id": b}]}) == {"items.1.course_id"}
    assert refused({"items": [{"course_id": a, "alternatives": [0]}]}) == {"items.0.alternatives.0"}
    assert refused({"items": [{"course_id": n} for n in range(1, 10)]}) == {"items"}  # course.plan_max_items 8
    assert refused({"items": [{"course_id": a, "alternatives": [b, c, 7, 8]}]}) >= {"items.0.alternatives"}
    assert refused({"items": [{"course_id": a, "extra": 1}]}) == {"items.0.extra"}
    assert plan_of(node, 5).json() == saved.json()  # nothing changed
    # the queue reads the plans of a burst of submissions at once
    read = node.client.post("/internal/plans/read", json={"student_ids": [6, 5, 5]}, headers=node.internal())
    assert read.status_code == 200, read.text
    assert read.json()["plans"] == [
        {"student_id": 5, "items": [{"course_id": a, "alternatives": [b]}, {"course_id": c, "alternatives": []}]},
        {"student_id": 6, "items": []},
    ]
    too_many = {"student_ids": list(range(1, 502))}
    assert node.client.post("/internal/plans/read", json=too_many, headers=node.internal()).status_code == 422
    assert node.client.post("/internal/plans/read", json={"student_ids": [5]}).status_code in (401, 403)
    assert plan_of(node, 5, "DELETE").status_code == 204
    assert plan_of(node, 5).json()["items"] == []
    assert plan_of(node, 5, "DELETE").status_code == 204  # none: the same
    assert node.client.get("/internal/students/5/plan").status_code in (401, 403)  # service tokens only


def test_a_plan_is_of_one_term_a_course_of_another_is_refused_by_name(node: Node) -> None:
    spring = {"code": "2027-spring", "name": "Spring", "starts_on": "2027-01-11", "ends_on": "2027-04-30"}
    assert node.client.post("/terms", json=spring, headers=node.auth("admin")).status_code == 201
    now, also_now = made_course(node, "CS101"), made_course(node, "CS102")
    later = made_course(node, "CS201", term="2027-spring")
    body = {"items": [{"course_id": now}, {"course_id": also_now, "alternatives": [later]}]}
    refused = plan_of(node, 5, "PUT", body)
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["errors"]
    assert error["field"] == "items.1.alternatives.0"
    assert "of term 2027-spring" in error["message"]
    assert "a plan is of one term" in error["message"]
    assert plan_of(node, 5).json()["items"] == []  # nothing saved
    only_spring = plan_of(node, 5, "PUT", {"items": [{"course_id": later}]})
    assert only_spring.status_code == 200, only_spring.text  # a plan of another term than the current is fine


def test_validation_judges_each_item_after_the_ones_before_with_the_ledger_s_rules(node: Node) -> None:
    monday = [{"weekday": 0, "start": "09:00", "end": "10:00"}]
    full = made_course(node, "FULL1", capacity=0, credits=1)
    early = made_course(node, "MON1", meetings=monday)
    clash = made_course(node, "MON2", meetings=monday)
    heavy = made_course(node, "BIG1", credits=20)
    needs = made_course(node, "ADV1", prerequisites=["FULL1"])
    spare = made_course(node, "SPARE", credits=2)
    other = made_course(node, "SPARE2", credits=2)
    items = [
        {"course_id": early},
        {"course_id": clash, "alternatives": [heavy, spare]},  # clashes with MON1 (taken above): BIG1 fits
        {"course_id": full},  # no seat: its waitlist
        {"course_id": needs, "alternatives": [other]},  # FULL1 not completed; SPARE2 passes 24 credits now
    ]
    assert plan_of(node, 8, "PUT", {"items": items}).status_code == 200
    checked = plan_of(node, 8, "POST", path="/validate")
    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert body["window"]["open"] is False
    assert body["window"]["type"] == "window-closed"
    assert body["window"]["reason"].startswith("registration is not open for you now")
    first, second, third, fourth = body["items"]
    assert (first["outcome"], first["chosen_course_id"], first["alternatives"]) == ("enrolled", early, [])
    assert (second["outcome"], second["type"]) == ("refused", "time-conflict")  # MON1 counted as taken
    assert "MON1" in second["reason"]
    assert [(a["course_id"], a["outcome"]) for a in second["alternatives"]] == [
        (heavy, "enrolled"),
        (spare, "enrolled"),
    ]
    assert second["chosen_course_id"] == heavy
    assert (third["outcome"], third["chosen_course_id"]) == ("waitlisted", full), third
    assert (fourth["outcome"], fourth["type"], fourth["chosen_course_id"]) == ("refused", "prerequisites-missing", None)
    assert [(a["outcome"], a["type"]) for a in fourth["alternatives"]] == [("refused", "credit-limit")]  # 3 + 20 + 2

    now = time.time()  # the window opens: it is reported open; the verdicts stand
    windows = {"windows": [{"opens_at": now - 60, "closes_at": now + 3600, "drop_deadline": now + 7200}]}
    assert node.client.put("/windows", json=windows, headers=node.auth("admin")).status_code == 200
    opened = plan_of(node, 8, "POST", path="/validate").json()
    assert opened["window"] == {"open": True, "type": "", "reason": ""}
    assert [i["chosen_course_id"] for i in opened["items"]] == [i["chosen_course_id"] for i in body["items"]]
    seats = node.client.get(f"/courses/{early}", headers=node.auth("admin")).json()
    assert seats["taken"] == 0  # nothing was changed
    assert plan_of(node, 9, "POST", path="/validate").json()["items"] == []  # no plan: nothing to judge
