"""`/openapi.json` built with apispec from the routes' YAML docstrings, and `/docs`.

Swagger UI's assets come from the swagger-ui-bundle package, so `/docs` works offline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apispec import APISpec
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.schemas import BaseSchemaGenerator
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from services.common.problems import PROBLEM_SCHEMA

_DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}: API documentation</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({{url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true}});</script>
</body>
</html>
"""


class _Generator(BaseSchemaGenerator):
    def get_schema(self, routes: list[BaseRoute]) -> dict[str, Any]:
        raise NotImplementedError  # we build through apispec instead


def build_spec(
    title: str, version: str, description: str, routes: list[BaseRoute], models: Mapping[str, type[BaseModel]]
) -> dict[str, Any]:
    spec = APISpec(title=title, version=version, openapi_version="3.1.0", info={"description": description})
    spec.components.schema("Problem", PROBLEM_SCHEMA)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    for name, model in models.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for sub_name, sub_schema in schema.pop("$defs", {}).items():
            if sub_name not in spec.components.schemas:  # shared by several bodies
                spec.components.schema(sub_name, sub_schema)
        spec.components.schema(name, schema)
    generator = _Generator()
    operations: dict[str, dict[str, Any]] = {}
    for endpoint in generator.get_endpoints(routes):
        operation = generator.parse_docstring(endpoint.func)
        operation.setdefault("responses", {"200": {"description": "OK"}})
        operations.setdefault(endpoint.path, {})[endpoint.http_method] = operation
    for path, ops in sorted(operations.items()):
        spec.path(path=path, operations=ops)
    return spec.to_dict()


def docs_routes(title: str, version: str, description: str, models: Mapping[str, type[BaseModel]]) -> list[BaseRoute]:
    cache: dict[str, dict[str, Any]] = {}

    async def openapi_json(request: Request) -> Response:
        """The OpenAPI 3.1 description of this service.
        ---
        summary: OpenAPI description
        tags: [operations]
        security: []
        responses:
          "200": {description: "The OpenAPI document"}
        """
        if "spec" not in cache:
            cache["spec"] = build_spec(title, version, description, request.app.routes, models)
        return JSONResponse(cache["spec"])

    async def docs(request: Request) -> Response:
        """Swagger UI for this service.
        ---
        summary: API documentation (Swagger UI)
        tags: [operations]
        security: []
        responses:
          "200": {description: "An HTML page"}
        """
        return HTMLResponse(_DOCS_PAGE.format(title=title))

    return [
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        Mount("/docs/assets", app=StaticFiles(directory=swagger_ui_path), name="docs-assets"),
    ]
