"""Every endpoint of course_data, teacher and student, for every role (the routes are enumerated)."""

from __future__ import annotations

import dataclasses
import importlib
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import OKPKey
from starlette.testclient import TestClient

from services.common.app import build_app
from services.common.context import NodeContext
from tests.api.login_kit import forge
from tests.api.test_login_matrix import ADMIN, ANY, INTERNAL, INTERNAL_OR_ADMIN, PUBLIC, routes_of
from tests.support import make_config, wait_master

STUDENT, TEACHER = "student-only", "teacher-only"
OPERATIONS = {
    ("GET", "/health"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/cluster/status"): INTERNAL_OR_ADMIN,
    ("POST", "/cluster/write-check"): INTERNAL,
    ("POST", "/cluster/members"): INTERNAL,
    ("DELETE", "/cluster/members/{node_id}"): INTERNAL,
}
TEACHING = "/internal/teaching/{teacher_id}/courses"
ACCESS = {
    "course_data": {
        **OPERATIONS,
        ("GET", "/courses"): ANY,
        ("GET", "/courses/{id}"): ANY,
        ("POST", "/courses"): ADMIN,
        ("PATCH", "/courses/{id}"): ADMIN,
        ("DELETE", "/courses/{id}"): ADMIN,
        ("GET", "/windows"): ADMIN,
        ("PUT", "/windows"): ADMIN,
        ("GET", "/holds"): ADMIN,
        ("POST", "/holds"): ADMIN,
        ("DELETE", "/holds/{id}"): ADMIN,
        ("POST", "/internal/ledger"): INTERNAL,
        ("GET", "/internal/students/{id}/courses"): INTERNAL,
        ("GET", TEACHING): INTERNAL,
        ("POST", TEACHING): INTERNAL,
        ("PATCH", TEACHING + "/{course_id}"): INTERNAL,
        ("GET", TEACHING + "/{course_id}/roster"): INTERNAL,
        ("DELETE", TEACHING + "/{course_id}/students/{student_id}"): INTERNAL,
        ("POST", TEACHING + "/{course_id}/permits"): INTERNAL,
    },
    "teacher": {
        **OPERATIONS,
        ("GET", "/teacher/courses"): TEACHER,
        ("POST", "/teacher/courses"): TEACHER,
        ("PATCH", "/teacher/courses/{id}"): TEACHER,
        ("GET", "/teacher/courses/{id}/roster"): TEACHER,
        ("DELETE", "/teacher/courses/{id}/students/{student_id}"): TEACHER,
        ("POST", "/teacher/courses/{id}/permits"): TEACHER,
    },
    "student": {
        **OPERATIONS,
        ("GET", "/student/enrollments"): STUDENT,
        ("POST", "/student/enrollments"): STUDENT,
        ("POST", "/student/enrollments/swap"): STUDENT,
        ("DELETE", "/student/enrollments/{course_id}"): STUDENT,
    },
}
ALLOWED = {
    ANY: {"student", "teacher", "admin", "super_admin"},
    ADMIN: {"admin", "super_admin"},
    INTERNAL_OR_ADMIN: {"admin", "super_admin"},
    STUDENT: {"student"},
    TEACHER: {"teacher"},
    INTERNAL: set(),
}
ROLES = ("anonymous", "student", "teacher", "admin", "super_admin")


@pytest.fixture(params=list(ACCESS))
def service(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> Iterator[tuple[str, TestClient, OKPKey]]:
    name = request.param
    key = OKPKey.generate_key("Ed25519", parameters={"kid": "matrix"})

    def keys(ctx: NodeContext) -> Any:
        async def fetch() -> dict[str, Any]:
            return {"keys": [key.as_dict(private=False)]}

        return fetch

    spec = dataclasses.replace(importlib.import_module(f"services.{name}.app").SPEC, local_jwks=keys)
    config = make_config(tmp_path, redis_url=redis_url, services=(name,))
    with TestClient(build_app(spec, config, config.nodes[0]), raise_server_exceptions=False) as client:
        wait_master(client, config)
        yield name, client, key


def test_every_role_gets_exactly_its_access(service: tuple[str, TestClient, OKPKey]) -> None:
    name, client, key = service
    access = ACCESS[name]
    assert routes_of(client.app) == set(access), f"{name}: an endpoint is missing from the matrix (or gone)"
    mismatches = []
    for (method, path), kind in sorted(access.items()):
        url = path
        for param in ("{id}", "{node_id}", "{teacher_id}", "{course_id}", "{student_id}"):
            url = url.replace(param, "1")
        for role in ROLES:
            headers = {}
            if role != "anonymous":
                signed = forge(key, sub="1", role=role, sid=secrets.token_hex(4))
                headers = {"Authorization": f"Bearer {signed}"}
            response = client.request(method, url, headers=headers, json={})
            got = str(response.status_code) if response.status_code in (401, 403) else "allowed"
            if kind == PUBLIC:
                want = "allowed"
            elif role == "anonymous" or kind == INTERNAL:
                want = "401"
            else:
                want = "allowed" if role in ALLOWED[kind] else "403"
            if got != want:
                mismatches.append(f"{name}: {method} {path} as {role}: {response.status_code}, expected {want}")
    assert not mismatches, "\n".join(mismatches)
