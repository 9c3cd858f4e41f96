"""Hostile input answers a small 4xx: wide, deep or long JSON, Unicode digits, ids past
64 bits, explicit nulls (issue 12, findings 2 and 10)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from services import app_factory
from tests.api.login_kit import default_account
from tests.api.registrar_kit import Node, service_node
from tests.support import make_config, wait_master

JSON = {"content-type": "application/json"}
SMALL = 2_000  # bytes: a refusal names the limit, it does not echo the body

WIDE = b"{" + b",".join(b'"field%05d":0' % i for i in range(60_000)) + b"}"  # ~0.9 MiB, 60,000 keys
DEEP = b"[" * 100_000 + b"]" * 100_000
LONG_NUMBER = b'{"username": ' + b"7" * 5_000 + b', "password": "x"}'
LONG_INTEGER = b'{"username": 123456789012345678901234, "password": "x"}'  # orjson reads it as a float


# One node of each for the module (a node costs seconds to start): every test here sends input that is
# refused, or reads; the two that write make their own course and change super_admin's name fields only.


@pytest.fixture(scope="module")
def login(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[TestClient]:
    redis.Redis.from_url(redis_url).flushdb()
    config = make_config(tmp_path_factory.mktemp("login"), redis_url=redis_url, services=("login",))
    with TestClient(app_factory("login")(config, config.nodes[0]), raise_server_exceptions=False) as client:
        wait_master(client, config)
        yield client


@pytest.fixture(scope="module")
def registrar(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Node]:
    with service_node("course_data", tmp_path_factory.mktemp("course_data"), redis_url) as made:
        yield made


@pytest.mark.parametrize("body", [WIDE, DEEP, LONG_NUMBER, LONG_INTEGER], ids=["wide", "deep", "number", "integer"])
def test_anonymous_hostile_json_gets_a_small_422(login: TestClient, body: bytes) -> None:
    answer = login.post("/auth/login", content=body, headers=JSON)
    assert answer.status_code == 422, answer.text[:300]
    assert answer.headers["content-type"] == "application/problem+json"
    assert len(answer.content) < SMALL


def test_a_wide_body_is_refused_by_the_parser_before_any_model(login: TestClient) -> None:
    answer = login.post("/auth/login", content=WIDE, headers=JSON).json()
    assert answer["type"] == "/problems/body-too-complex"
    assert answer["errors"] == [{"field": "(body)", "message": "more than 10000 values in all"}]


def test_a_422_lists_the_first_errors_and_counts_them_all(login: TestClient) -> None:
    body = {f"unknown{i}": 0 for i in range(500)}
    answer = login.post("/auth/login", json=body)
    assert answer.status_code == 422
    problem = answer.json()
    assert len(problem["errors"]) == 20
    assert problem["error_count"] == 502  # 500 unknown keys, username and password missing
    assert "and 482 more" in problem["detail"]
    assert len(answer.content) < 10 * SMALL


def test_the_hot_admission_path_has_the_same_limits(tmp_path: Path, redis_url: str) -> None:
    with service_node("queue", tmp_path, redis_url) as node:
        student = {**node.auth("student", 5), "Idempotency-Key": "k-1", **JSON}
        for body in (WIDE, DEEP, b'{"action": "enroll", "course_id": ' + b"9" * 5_000 + b"}"):
            answer = node.client.post("/queue/requests", content=body, headers=student)
            assert answer.status_code == 422, answer.text[:300]
            assert len(answer.content) < SMALL
        beyond = node.client.post("/queue/requests", json={"action": "enroll", "course_id": 2**64 - 1}, headers=student)
        assert (beyond.status_code, beyond.json()["type"]) == (422, "/problems/body-too-complex")
        assert beyond.json()["errors"][0]["field"] == "course_id"


@pytest.mark.parametrize(
    "path",
    [
        "/courses?credits=²",
        "/courses?day=²",
        "/courses?page=²",
        "/courses?credits=99999999999999999999",
        "/audit?student_id=²",
        "/audit?course_id=99999999999999999999",
        "/holds?student_id=²",
        "/holds?student_id=99999999999999999999",
    ],
)
def test_unicode_digits_and_numbers_past_64_bits_in_queries_are_422(registrar: Node, path: str) -> None:
    answer = registrar.client.get(path, headers=registrar.auth("admin"))
    assert answer.status_code == 422, answer.text


def test_a_teacher_filter_of_unicode_digits_is_a_name_search(registrar: Node) -> None:
    answer = registrar.client.get("/courses?teacher=²", headers=registrar.auth("admin"))
    assert (answer.status_code, answer.json()["items"]) == (200, [])


@pytest.mark.parametrize("path", ["/courses/99999999999999999999", f"/courses/{2**66}", "/holds/99999999999999999999"])
def test_ids_past_64_bits_in_paths_are_404(registrar: Node, path: str) -> None:
    method = "DELETE" if path.startswith("/holds") else "GET"
    answer = registrar.client.request(method, path, headers=registrar.auth("admin"))
    assert answer.status_code == 404, answer.text


def test_explicit_nulls_on_required_course_fields_are_422(registrar: Node) -> None:
    admin = registrar.auth("admin")
    made = registrar.client.post(
        "/courses", json={"code": "CS101", "title": "t", "credits": 3, "capacity": 2, "teacher_id": 9}, headers=admin
    )
    assert made.status_code == 201, made.text
    course = made.json()["id"]
    for field in ("title", "capacity", "credits", "meetings", "description"):
        answer = registrar.client.patch(f"/courses/{course}", json={field: None}, headers=admin)
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == field
    teacher = registrar.client.patch(
        f"/internal/teaching/9/courses/{course}", json={"capacity": None}, headers=registrar.internal()
    )
    assert (teacher.status_code, teacher.json()["errors"][0]["field"]) == (422, "capacity")
    unassigned = registrar.client.patch(f"/courses/{course}", json={"teacher_id": None}, headers=admin)
    assert (unassigned.status_code, unassigned.json()["teacher_id"]) == (200, None)


def test_user_ids_past_64_bits_and_null_names(login: TestClient) -> None:
    admin = default_account(login, "super_admin")
    assert login.get(f"/users/{2**66}", headers=admin.auth).status_code == 404
    answer = login.patch(f"/users/{admin.id}", json={"full_name": None}, headers=admin.auth)
    assert (answer.status_code, answer.json()["errors"][0]["field"]) == (422, "full_name")
    cleared = login.patch(f"/users/{admin.id}", json={"email": None}, headers=admin.auth)
    assert cleared.status_code == 200, cleared.text
