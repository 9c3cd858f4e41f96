"""Every endpoint of course_data, teacher, student and queue, for every role (the routes are enumerated)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.api.registrar_kit import Node, service_node
from tests.api.test_login_matrix import ADMIN, ANY, INTERNAL, INTERNAL_OR_ADMIN, PUBLIC, routes_of

STUDENT, TEACHER, STAFF = "student-only", "teacher-only", "admin-or-teacher"
OPERATIONS = {
    ("GET", "/health"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/cluster/status"): INTERNAL_OR_ADMIN,
    ("GET", "/cluster/state"): INTERNAL,
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
        ("POST", "/courses/import"): ADMIN,
        ("GET", "/imports/{id}"): ADMIN,
        ("GET", "/notifications"): ADMIN,
        ("GET", "/audit"): ADMIN,
        ("PATCH", "/courses/{id}"): ADMIN,
        ("DELETE", "/courses/{id}"): ADMIN,
        ("GET", "/windows"): INTERNAL_OR_ADMIN,
        ("GET", "/terms"): ADMIN,
        ("POST", "/terms"): ADMIN,
        ("GET", "/terms/{id}"): ADMIN,
        ("PATCH", "/terms/{id}"): ADMIN,
        ("POST", "/terms/{id}/copy"): ADMIN,
        ("POST", "/courses/{id}/copy"): ADMIN,
        ("PUT", "/windows"): ADMIN,
        ("GET", "/holds"): ADMIN,
        ("POST", "/holds"): ADMIN,
        ("DELETE", "/holds/{id}"): ADMIN,
        ("GET", "/students/{id}/completed"): ADMIN,
        ("POST", "/students/{id}/completed"): ADMIN,
        ("DELETE", "/students/{id}/completed/{code}"): ADMIN,
        ("POST", "/completed/import"): ADMIN,
        ("POST", "/internal/ledger"): INTERNAL,
        ("POST", "/internal/ledger/batch"): INTERNAL,
        ("POST", "/internal/ledger/group"): INTERNAL,
        ("GET", "/internal/students/{id}/courses"): INTERNAL,
        ("GET", "/internal/students/{id}/catalogue"): INTERNAL,
        ("GET", "/internal/students/{id}/plan"): INTERNAL,
        ("PUT", "/internal/students/{id}/plan"): INTERNAL,
        ("DELETE", "/internal/students/{id}/plan"): INTERNAL,
        ("POST", "/internal/students/{id}/plan/validate"): INTERNAL,
        ("POST", "/internal/plans/read"): INTERNAL,
        ("GET", TEACHING): INTERNAL,
        ("POST", TEACHING): INTERNAL,
        ("PATCH", TEACHING + "/{course_id}"): INTERNAL,
        ("GET", TEACHING + "/{course_id}/roster"): INTERNAL,
        ("DELETE", TEACHING + "/{course_id}/students/{student_id}"): INTERNAL,
        ("POST", TEACHING + "/{course_id}/permits"): INTERNAL,
        ("GET", "/desk/students/{ref}"): ADMIN,
        ("POST", "/desk/students/{ref}/enroll"): ADMIN,
        ("POST", "/desk/students/{ref}/drop"): ADMIN,
        ("POST", "/desk/students/{ref}/swap"): ADMIN,
        ("GET", "/courses/{id}/roster"): STAFF,
        ("GET", "/exports/enrollments"): ADMIN,
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
        ("GET", "/student/courses"): STUDENT,
        ("GET", "/student/timetable"): STUDENT,
        ("GET", "/student/enrollments"): STUDENT,
        ("POST", "/student/enrollments"): STUDENT,
        ("POST", "/student/enrollments/swap"): STUDENT,
        ("DELETE", "/student/enrollments/{course_id}"): STUDENT,
        ("GET", "/student/plan"): STUDENT,
        ("PUT", "/student/plan"): STUDENT,
        ("DELETE", "/student/plan"): STUDENT,
        ("POST", "/student/plan/validate"): STUDENT,
        ("POST", "/student/plan/submit"): STUDENT,
        # The web console (services/console): its page, and the gateway, which checks nothing
        # itself: the node it forwards to does (tests/cluster/test_console.py).
        ("GET", "/"): PUBLIC,
        **{(method, "/api/{service}/{path}"): PUBLIC for method in ("GET", "POST", "PUT", "PATCH", "DELETE")},
    },
    "queue": {
        **OPERATIONS,
        ("POST", "/queue/requests"): STUDENT,
        ("GET", "/queue/requests"): STUDENT,
        ("GET", "/queue/requests/{id}"): STUDENT,
        ("DELETE", "/queue/requests/{id}"): STUDENT,
        ("GET", "/queue/stats"): ADMIN,
        ("GET", "/queue/opening"): STUDENT,
        ("POST", "/internal/queue/requests"): INTERNAL,
        ("GET", "/internal/queue/students/{id}/open"): INTERNAL,
        ("POST", "/internal/queue/plans"): INTERNAL,
    },
}
ALLOWED = {
    ANY: {"student", "teacher", "admin", "super_admin"},
    ADMIN: {"admin", "super_admin"},
    INTERNAL_OR_ADMIN: {"admin", "super_admin"},
    STUDENT: {"student"},
    TEACHER: {"teacher"},
    STAFF: {"teacher", "admin", "super_admin"},
    INTERNAL: set(),
}
ROLES = ("anonymous", "student", "teacher", "admin", "super_admin")


@pytest.fixture(params=list(ACCESS))
def service(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> Iterator[tuple[str, TestClient, Node]]:
    with service_node(request.param, tmp_path, redis_url) as node:
        yield request.param, node.client, node


def test_every_role_gets_exactly_its_access(service: tuple[str, TestClient, Node]) -> None:
    name, client, node = service
    access = ACCESS[name]
    assert routes_of(client.app) == set(access), f"{name}: an endpoint is missing from the matrix (or gone)"
    mismatches = []
    for (method, path), kind in sorted(access.items()):
        url = path
        for param in ("{id}", "{node_id}", "{teacher_id}", "{course_id}", "{student_id}", "{code}", "{ref}"):
            url = url.replace(param, "1")
        for role in ROLES:
            headers = {}
            if role != "anonymous":
                headers = node.auth(role)
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
