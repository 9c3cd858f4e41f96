"""What every service answers, run against each of the five (lifespan running)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from starlette.testclient import TestClient

from cluster.config import SERVICES
from services import app_factory
from tests.support import free_port, make_config


def test_health_names_the_node(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["node"] == f"{body['service']}-1"


def test_ready_checks_storage_and_raft(client: TestClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["raft"] == "ok"
    if response.json()["node"].startswith("queue"):
        assert checks["redis"] == "ok"


def test_openapi_is_valid_and_lists_the_operational_paths(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    validate(spec)
    assert spec["openapi"].startswith("3.1")
    assert {"/health", "/ready", "/metrics", "/openapi.json", "/docs"} <= set(spec["paths"])
    assert "Problem" in spec["components"]["schemas"]


def test_docs_page_and_its_assets_are_served_locally(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "/docs/assets/swagger-ui-bundle.js" in page.text
    asset = client.get("/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert len(asset.content) > 100_000


def requests_counted(client: TestClient, route: str, status: int) -> float:
    """The node's `http_requests_total` of GET `route` answered `status` (0 before the first)."""
    text = client.get("/metrics").text
    found = re.search(
        rf'^http_requests_total{{method="GET",route="{re.escape(route)}",status="{status}"}} (\S+)$', text, re.M
    )
    return float(found[1]) if found else 0.0


def test_metrics_count_requests_per_route_and_status(client: TestClient) -> None:
    before = requests_counted(client, "/health", 200), requests_counted(client, "<unmatched>", 404)
    client.get("/health")
    client.get("/no/such/path")
    after = requests_counted(client, "/health", 200), requests_counted(client, "<unmatched>", 404)
    assert after == (before[0] + 1, before[1] + 1)  # each request counted once, under its route and status
    assert "http_request_duration_seconds_bucket" in client.get("/metrics").text


def test_unknown_path_is_a_404_problem(client: TestClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "/problems/not-found"
    assert body["status"] == 404
    assert "/nowhere" in body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]


def test_wrong_method_is_a_405_problem_with_allow(client: TestClient) -> None:
    response = client.post("/health")
    assert response.status_code == 405
    assert response.json()["type"] == "/problems/method-not-allowed"
    assert "GET" in response.headers["allow"]


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    made = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"}).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{12}-[0-9a-f]+", made)  # this process's prefix and a counter
    assert made != client.get("/health").headers["x-request-id"]


def test_oversized_body_is_a_413_even_on_unknown_paths(client: TestClient) -> None:
    response = client.post("/anything", content=b"x" * 2048, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["type"] == "/problems/payload-too-large"


def test_ready_is_503_naming_the_failing_dependencies(tmp_path: Path) -> None:
    """Redis does not answer, and the node's Raft partners are not running: no quorum."""
    config = make_config(tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    node = config.nodes_of("queue")[0]
    with TestClient(app_factory("queue")(config, node)) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["type"] == "/problems/unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("failed")
    assert "no leader with quorum" in body["checks"]["raft"]


@pytest.mark.parametrize("service", SERVICES)
def test_the_factory_refuses_a_node_of_another_service(service: str, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    other = next(n for n in config.nodes if n.service != service)
    with pytest.raises(ValueError, match="belongs to"):
        app_factory(service)(config, other)
