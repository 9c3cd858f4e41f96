"""The queue's raw admission path keeps the contract of every endpoint."""

from __future__ import annotations

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
