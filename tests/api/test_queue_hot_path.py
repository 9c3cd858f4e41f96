"""The queue's raw admission path keeps the contract of every endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.registrar_kit import Node, service_node


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
    assert taken.headers["location"] == f"/queue/requests/{taken.json()['request_id']}"
    again = node.client.post("/queue/requests", json={"action": "enroll", "course_id": 1}, headers=student)
    assert (again.json()["request_id"], again.json()["new"]) == (taken.json()["request_id"], False)
    metrics = node.client.get("/metrics").text
    assert 'route="/queue/requests",status="202"' in metrics
    assert 'route="/queue/requests",status="401"' in metrics
