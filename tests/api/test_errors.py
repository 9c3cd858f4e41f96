"""The shared error contract, on a small app built from the shared pieces."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from cluster.config import ClusterConfig
from services.common.app import build_app
from services.common.body import read_json
from services.common.context import ServiceSpec
from tests.support import make_config


class Course(BaseModel):
    code: str = Field(min_length=2)
    capacity: int = Field(ge=0)


async def echo(request: Request) -> Response:
    """Echo a course.
    ---
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/Course"}}}
    responses:
      "200": {description: "The course", content: {application/json: {schema: {$ref: "#/components/schemas/Course"}}}}
    """
    course = await read_json(request, Course)
    return JSONResponse(course.model_dump())


async def crash(request: Request) -> Response:
    raise RuntimeError("secret internals")


SPEC = ServiceSpec(
    name="course_data",
    title="t",
    description="d",
    routes=(Route("/echo", echo, methods=["POST"]), Route("/crash", crash)),
    models={"Course": Course},
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the module (a start costs a second or two): its routes keep no state."""
    tmp_path = tmp_path_factory.mktemp("errors")
    config: ClusterConfig = make_config(tmp_path, services=("course_data",), CS_HTTP__MAX_BODY_BYTES="100")
    with TestClient(build_app(SPEC, config, config.nodes_of("course_data")[0]), raise_server_exceptions=False) as c:
        yield c


def test_valid_body_is_parsed(client: TestClient) -> None:
    assert client.post("/echo", json={"code": "CS101", "capacity": 3}).json() == {"code": "CS101", "capacity": 3}


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post("/echo", content=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/validation-error"
    assert "not valid JSON" in response.json()["detail"]


def test_invalid_fields_are_422_naming_each_field(client: TestClient) -> None:
    response = client.post("/echo", json={"code": "C", "capacity": "many"})
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"code", "capacity"}


def test_missing_field_is_named(client: TestClient) -> None:
    response = client.post("/echo", json={"code": "CS101"})
    assert response.json()["errors"] == [{"field": "capacity", "message": "Field required"}]


def test_wrong_content_type_is_415(client: TestClient) -> None:
    assert client.post("/echo", content=b"code=x", headers={"content-type": "text/plain"}).status_code == 415


def test_oversized_body_is_413_whether_declared_or_streamed(client: TestClient) -> None:
    declared = client.post("/echo", json={"code": "x" * 200, "capacity": 1})
    assert declared.status_code == 413

    def chunks() -> Iterator[bytes]:
        yield b'{"code": "'
        yield b"x" * 200
        yield b'", "capacity": 1}'

    streamed = client.post("/echo", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert streamed.json()["type"] == "/problems/payload-too-large"


def test_unexpected_exception_is_a_500_without_internals(client: TestClient) -> None:
    response = client.get("/crash", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "req-42"
    body = response.json()
    assert body["request_id"] == "req-42"
    assert body["type"] == "/problems/internal-error"
    assert "secret" not in response.text
    assert "Traceback" not in response.text


def test_models_reach_the_openapi_spec(client: TestClient) -> None:
    """A model a route's docstring refers to is a component of the spec (only those are kept)."""
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["Course"]["required"] == ["code", "capacity"]
