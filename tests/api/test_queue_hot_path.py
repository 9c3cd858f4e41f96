"""The queue's raw admission path keeps the contract of every endpoint."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from cluster.settings import QueueSettings
from tests.api.registrar_kit import Node, service_node


def conforms(spec: dict[str, Any], schema: dict[str, Any], body: Any) -> None:
    """`body` is what `schema` (with the spec's components) says: a real answer against the spec."""
    Draft202012Validator({**schema, "components": spec["components"]}).validate(body)


@pytest.fixture
def node(tmp_path: Path, redis_url: str) -> Iterator[Node]:
    with service_node("queue", tmp_path, redis_url) as made:
        yield made


def test_errors_request_ids_limits_and_metrics(node: Node) -> None:
    anonymous = node.client.post("/queue/requests", json={}, headers={"X-Request-ID": "rush-1"})
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.headers["x-request-id"] == "rush-1"
    assert anonymous.json()["request_id"] == "rush-1"
    assert anonymous.headers["www-authenticate"] == "Bearer"

    student = {**node.auth("student", 5), "Idempotency-Key": "k-1", "content-type": "application/json"}
    not_json = node.client.post("/queue/requests", content=b"{nope", headers=student)
    assert (not_json.status_code, not_json.json()["type"]) == (422, "/problems/validation-error")
    too_big = node.client.post("/queue/requests", content=b"x" * 2_000_000, headers=student)
    assert too_big.status_code == 413
    no_key = node.client.post(
        "/queue/requests", json={"action": "enroll", "course_id": 1}, headers=node.auth("student", 5)
    )
    assert no_key.status_code == 422
    assert no_key.json()["errors"][0]["field"] == "Idempotency-Key"

    taken = node.client.post("/queue/requests", json={"action": "enroll", "course_id": 1}, headers=student)
    assert taken.status_code == 202, taken.text
    assert taken.headers["location"] == f"/queue/requests/{taken.json()['queue_request_id']}"
    spec = node.client.get("/openapi.json").json()
    answered = spec["paths"]["/queue/requests"]["post"]["responses"]["202"]["content"]["application/json"]
    conforms(spec, answered["schema"], taken.json())
    view = node.client.get(f"/queue/requests/{taken.json()['queue_request_id']}", headers=student)
    shown = spec["paths"]["/queue/requests/{id}"]["get"]["responses"]["200"]["content"]["application/json"]
    conforms(spec, shown["schema"], view.json())
    again = node.client.post("/queue/requests", json={"action": "enroll", "course_id": 1}, headers=student)
    assert (again.json()["queue_request_id"], again.json()["new"]) == (taken.json()["queue_request_id"], False)
    metrics = node.client.get("/metrics").text
    assert 'route="/queue/requests",status="202"' in metrics
    assert 'route="/queue/requests",status="401"' in metrics


def test_a_student_with_the_cap_of_requests_open_gets_429_with_the_reason(node: Node) -> None:
    student = {**node.auth("student", 77), "content-type": "application/json"}
    cap = QueueSettings().max_open_requests
    for n in range(cap):  # no ledger here: they all stay open
        taken = node.client.post(
            "/queue/requests",
            json={"action": "enroll", "course_id": n + 1},
            headers={**student, "Idempotency-Key": f"o-{n}"},
        )
        assert taken.status_code == 202, taken.text
    over = node.client.post(
        "/queue/requests", json={"action": "enroll", "course_id": 99}, headers={**student, "Idempotency-Key": "o-over"}
    )
    assert over.status_code == 429, over.text
    assert over.json()["type"] == "/problems/too-many-open-requests"
    assert (over.json()["open_requests"], over.json()["limit"]) == (cap, cap)
    assert "waiting for a decision" in over.json()["detail"]
    assert over.headers["retry-after"] == "1"


def test_a_student_lists_their_own_requests_newest_first_a_page_at_a_time(node: Node) -> None:
    student = {**node.auth("student", 41), "content-type": "application/json"}
    ids = []
    for n in range(5):
        taken = node.client.post(
            "/queue/requests",
            json={"action": "enroll", "course_id": n + 1},
            headers={**student, "Idempotency-Key": f"l-{n}"},
        )
        assert taken.status_code == 202, taken.text
        ids.append(taken.json()["queue_request_id"])
    other = {**node.auth("student", 42), "content-type": "application/json", "Idempotency-Key": "l-0"}
    assert (
        node.client.post("/queue/requests", json={"action": "drop", "course_id": 9}, headers=other).status_code == 202
    )

    first = node.client.get("/queue/requests?page_size=2", headers=student)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["page"], body["page_size"], body["total"]) == (1, 2, 5)
    assert [r["queue_request_id"] for r in body["items"]] == [ids[4], ids[3]]
    assert body["items"][0] == {
        "queue_request_id": ids[4],
        "status": "pending",
        "action": "enroll",
        "course_id": 5,
        "admitted_at": body["items"][0]["admitted_at"],
    }
    admitted = dt.datetime.fromisoformat(body["items"][0]["admitted_at"])  # instants: ISO 8601 with an offset
    assert admitted.utcoffset() == dt.timedelta(0)
    assert abs(admitted.timestamp() - time.time()) < 3600
    rest = node.client.get("/queue/requests?page=3&page_size=2", headers=student).json()
    assert [r["queue_request_id"] for r in rest["items"]] == [ids[0]]
    mine = node.client.get("/queue/requests", headers=other).json()
    assert [(r["action"], r["course_id"]) for r in mine["items"]] == [("drop", 9)]  # only their own
    bad = node.client.get("/queue/requests?page_size=1000", headers=student)
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "page_size")
    assert node.client.get("/queue/requests").status_code == 401
    spec = node.client.get("/openapi.json").json()
    listed = spec["paths"]["/queue/requests"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listed == {"$ref": "#/components/schemas/QueueRequestPage"}
    assert "QueuedView" in spec["components"]["schemas"]


def test_a_section_group_is_queued_as_a_single_course_is(node: Node) -> None:
    """Admitted with its sections (202), the same key the same request, listed and shown with its
    sections; a bad group is 422 naming the field, with nothing queued."""
    student = {**node.auth("student", 51), "content-type": "application/json"}
    spec = node.client.get("/openapi.json").json()
    group = {"action": "enroll", "section_ids": [7, 9]}
    taken = node.client.post("/queue/requests", json=group, headers={**student, "Idempotency-Key": "g-1"})
    assert taken.status_code == 202, taken.text
    again = node.client.post("/queue/requests", json=group, headers={**student, "Idempotency-Key": "g-1"})
    assert (again.json()["queue_request_id"], again.json()["new"]) == (taken.json()["queue_request_id"], False)
    swap = {"action": "swap", "section_ids": [8, 10], "drop_course_ids": [7, 9]}
    swapped = node.client.post("/queue/requests", json=swap, headers={**student, "Idempotency-Key": "g-2"})
    assert swapped.status_code == 202, swapped.text
    for bad, field in (
        ({"action": "enroll", "section_ids": [7, 7]}, "section_ids"),
        ({"action": "enroll", "section_ids": []}, "section_ids"),
        ({"action": "enroll", "section_ids": [7, "x"]}, "section_ids"),
        ({"action": "enroll", "section_ids": [7, 9], "course_id": 7}, "course_id"),
        ({"action": "drop", "section_ids": [7, 9]}, "section_ids"),
        ({"action": "swap", "section_ids": [8, 10]}, "drop_course_ids"),
    ):
        refused = node.client.post("/queue/requests", json=bad, headers={**student, "Idempotency-Key": "g-bad"})
        assert refused.status_code == 422, (bad, refused.text)
        assert field in {e["field"] for e in refused.json()["errors"]}, (bad, refused.json())
    page = node.client.get("/queue/requests", headers=student).json()
    assert page["total"] == 2  # the bad ones queued nothing
    shown = spec["paths"]["/queue/requests/{id}"]["get"]["responses"]["200"]["content"]["application/json"]
    newest, oldest = page["items"]
    conforms(spec, shown["schema"], newest)
    assert (oldest["action"], oldest["course_id"], oldest["section_ids"]) == ("enroll", 7, [7, 9])
    assert "drop_course_ids" not in oldest
    assert (newest["action"], newest["section_ids"], newest["drop_course_ids"]) == ("swap", [8, 10], [7, 9])
    view = node.client.get(f"/queue/requests/{taken.json()['queue_request_id']}", headers=student).json()
    assert (view["status"], view["section_ids"]) == ("pending", [7, 9])  # (no ledger here: it waits)
