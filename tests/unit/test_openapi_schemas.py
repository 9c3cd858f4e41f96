"""Every operation of every service's OpenAPI has a schema for its request body and for
each of its answers, so a new route cannot leave one out (issue 13, item 6).

The documents are built from the apps' routes as `/openapi.json` builds them (no node is
started). `tests/cluster/test_openapi_conformance.py` checks real answers against them.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from cluster.config import SERVICES
from services.common.app import build_app
from services.common.cluster_routes import CLUSTER_MODELS
from services.common.openapi import build_spec
from tests.spec_check import NOT_YET
from tests.support import make_config

NO_BODY = {"204", "304"}


def document(service: str, tmp_path: Path, internal: bool = True) -> dict[str, Any]:
    spec = importlib.import_module(f"services.{service}.app").SPEC
    config = make_config(tmp_path, services=(service,))
    app = build_app(spec, config, config.nodes[0])
    return build_spec(spec.title, "0", spec.description, app.routes, {**CLUSTER_MODELS, **spec.models}, internal)


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        kind, name = node["$ref"].removeprefix("#/components/").split("/")
        node = spec["components"][kind][name]
    return node


def missing(service: str, spec: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """(service, method, path, "body" or status) of each body or answer without a schema."""
    found = set()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            where = (service, method.upper(), path)
            if "requestBody" in operation:
                content = resolve(spec, operation["requestBody"]).get("content", {})
                if not content or any(not schematic(media.get("schema")) for media in content.values()):
                    found.add((*where, "body"))
            for code, response in operation["responses"].items():
                content = resolve(spec, response).get("content", {})
                if code in NO_BODY:
                    continue
                if not content or any(not schematic(media.get("schema")) for media in content.values()):
                    found.add((*where, code))
    return found


def schematic(schema: dict[str, Any] | None) -> bool:
    """A schema that says something: not absent, and not a bare `{type: object}`."""
    return bool(schema) and schema != {"type": "object"}


@pytest.mark.parametrize("service", SERVICES)
def test_every_body_and_answer_has_a_schema(service: str, tmp_path: Path) -> None:
    spec = document(service, tmp_path)
    validate(spec)
    assert missing(service, spec) == {e for e in NOT_YET if e[0] == service}


@pytest.mark.parametrize("service", SERVICES)
def test_shared_parameters_and_problems_are_references(service: str, tmp_path: Path) -> None:
    spec = document(service, tmp_path)
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                spelled = (parameter.get("name", "").lower(), parameter.get("required", False))
                assert spelled not in {("x-internal-token", True), ("page", False), ("page_size", False)}, (
                    f"{method} {path}: {parameter} is a shared parameter"
                )
            for code, response in operation["responses"].items():
                if code[0] in "45":
                    problem = resolve(spec, response)["content"]["application/problem+json"]["schema"]
                    assert problem == {"$ref": "#/components/schemas/Problem"}, f"{method} {path} {code}"


def test_a_document_keeps_only_the_components_it_uses(tmp_path: Path) -> None:
    teacher = document("teacher", tmp_path / "t")
    assert {"Course", "CourseIn", "Roster", "Permit"} <= set(teacher["components"]["schemas"])
    assert {"User", "Tokens", "Hold", "SettingsAnswer"}.isdisjoint(teacher["components"]["schemas"])
    public = document("course_data", tmp_path / "c", internal=False)
    assert {"StudentCourses", "LedgerBatch", "ClusterStatus"}.isdisjoint(public["components"]["schemas"])
    assert "InternalToken" not in public["components"].get("parameters", {})


def test_the_check_finds_an_operation_without_a_schema(tmp_path: Path) -> None:
    spec = document("teacher", tmp_path)
    spec["paths"]["/teacher/courses"]["get"]["responses"]["200"] = {"description": "items"}
    spec["paths"]["/teacher/courses"]["post"]["requestBody"]["content"]["application/json"]["schema"] = {
        "type": "object"
    }
    assert missing("teacher", spec) == {
        ("teacher", "GET", "/teacher/courses", "200"),
        ("teacher", "POST", "/teacher/courses", "body"),
    }
