"""The anonymous `/openapi.json` leaves out the internal and cluster routes; internal
callers and admins get them (issue 12, finding 13)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from cluster.config import SERVICES
from tests.api.registrar_kit import Node, service_node


@pytest.fixture(params=SERVICES)
def node(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> Iterator[Node]:
    with service_node(request.param, tmp_path, redis_url) as made:
        yield made


def internal_paths(spec: dict[str, object]) -> set[str]:
    paths = spec["paths"]
    assert isinstance(paths, dict)
    return {p for p in paths if p.startswith(("/internal/", "/cluster/"))}


def test_the_public_spec_has_no_internal_routes_and_the_full_one_has_them(node: Node) -> None:
    public = node.client.get("/openapi.json")
    assert public.status_code == 200
    validate(public.json())
    assert internal_paths(public.json()) == set()
    tags = {t for ops in public.json()["paths"].values() for op in ops.values() for t in op.get("tags", [])}
    assert tags.isdisjoint({"internal", "cluster"})
    # schemas only internal routes use
    assert {"NewMember", "LedgerBatch"}.isdisjoint(public.json()["components"]["schemas"])
    assert (
        public.json()["paths"].keys()
        == node.client.get("/openapi.json", headers=node.auth("student")).json()["paths"].keys()
    )

    validated: set[str] = set()
    for headers in (node.internal(), node.auth("admin"), node.auth("super_admin")):
        full = node.client.get("/openapi.json", headers=headers)
        assert full.status_code == 200
        if (text := json.dumps(full.json(), sort_keys=True)) not in validated:  # (seconds each: a document once)
            validate(full.json())
            validated.add(text)
        assert "/cluster/status" in internal_paths(full.json())
        assert "NewMember" in full.json()["components"]["schemas"]
        assert full.headers["cache-control"] == "private, no-store"
    assert node.client.get("/openapi.json", headers={"Authorization": "Bearer forged"}).status_code == 401
    assert node.client.get("/openapi.json", headers={"X-Internal-Token": "forged"}).status_code == 401
