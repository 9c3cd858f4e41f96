"""`/openapi.json` built with apispec from the routes' YAML docstrings, and `/docs`.

The public document leaves out the internal and cluster routes (`/internal/...`,
`/cluster/...`, or tagged `internal` / `cluster`) and the schemas only they use: an
anonymous caller learns nothing of the cluster's own surface. Callers with a valid
internal token, or an admin's access token, get the full document. Either keeps only
the components its operations refer to (the answer schemas of `spec_schemas` are
shared by all five services; each document carries those of its own routes).

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

from cluster.internal_auth import HEADER as INTERNAL_HEADER
from services.common.auth import authenticate
from services.common.internal import require_internal
from services.common.problems import PROBLEM_SCHEMA
from services.common.spec_components import add_shared, register_components
from services.common.spec_schemas import answer_schemas

_INTERNAL_PREFIXES = ("/internal/", "/cluster/")
_INTERNAL_TAGS = {"internal", "cluster"}

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


def is_internal(path: str, operation: Mapping[str, Any]) -> bool:
    """A route for other nodes and operator tools, kept out of the public document."""
    return path.startswith(_INTERNAL_PREFIXES) or bool(_INTERNAL_TAGS & set(operation.get("tags", ())))


def build_spec(
    title: str,
    version: str,
    description: str,
    routes: list[BaseRoute],
    models: Mapping[str, type[BaseModel]],
    internal: bool = True,
) -> dict[str, Any]:
    """The OpenAPI document; with `internal=False`, without the internal routes and their schemas."""
    spec = APISpec(title=title, version=version, openapi_version="3.1.0", info={"description": description})
    spec.components.schema("Problem", PROBLEM_SCHEMA)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    register_components(spec)
    for name, model in models.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for sub_name, sub_schema in schema.pop("$defs", {}).items():
            if sub_name not in spec.components.schemas:  # shared by several bodies
                spec.components.schema(sub_name, sub_schema)
        spec.components.schema(name, schema)
    for name, schema in answer_schemas().items():
        if name not in spec.components.schemas:  # (a settings section a body model brought already)
            spec.components.schema(name, schema)
    generator = _Generator()
    operations: dict[str, dict[str, Any]] = {}
    for endpoint in generator.get_endpoints(routes):
        operation = generator.parse_docstring(endpoint.func)
        add_shared(operation, endpoint.path, forwarded=_forwarded(endpoint.func))
        if internal or not is_internal(endpoint.path, operation):
            operations.setdefault(endpoint.path, {})[endpoint.http_method] = operation
    for path, ops in sorted(operations.items()):
        spec.path(path=path, operations=ops)
    document = spec.to_dict()
    _keep_referenced_components(document)
    return document


def _forwarded(endpoint: Any) -> bool:
    """Wrapped by `on_master` (a write a slave forwards): `functools.wraps` leaves `__wrapped__`."""
    return hasattr(endpoint, "__wrapped__")


def _keep_referenced_components(document: dict[str, Any]) -> None:
    """Drop the schemas, responses and parameters no operation of the document refers to
    (directly or through others): those of the routes left out, and other services' answers."""
    components: dict[str, dict[str, Any]] = document.get("components", {})
    used = _references(document["paths"], components)
    for kind in ("schemas", "responses", "parameters"):
        for name in list(components.get(kind, {})):
            if f"#/components/{kind}/{name}" not in used:
                del components[kind][name]


def _references(root: Any, components: dict[str, dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    pending: list[Any] = [root]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/") and ref not in found:
                found.add(ref)
                kind, _, name = ref.removeprefix("#/components/").partition("/")
                pending.append(components.get(kind, {}).get(name, {}))
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found


async def _sees_internal(request: Request) -> bool:
    """Internal callers (valid internal token) and admins see the internal routes; a bad token is a 401.

    An admin whose token is restricted (a password change or 2FA setup pending) sees the public one."""
    if request.headers.get(INTERNAL_HEADER):
        require_internal(request)
        return True
    if request.headers.get("authorization"):
        principal = await authenticate(request, allow_restricted=True, allow_2fa_setup=True)
        return principal.is_admin and not (principal.must_change_password or principal.must_setup_2fa)
    return False


def docs_routes(title: str, version: str, description: str, models: Mapping[str, type[BaseModel]]) -> list[BaseRoute]:
    cache: dict[str, dict[str, Any]] = {}

    async def openapi_json(request: Request) -> Response:
        """The OpenAPI 3.1 description of this service.
        ---
        summary: OpenAPI description
        description: "Anonymous and non-admin callers get the public routes; an internal token or an
          admin's access token gets the internal and cluster routes too."
        tags: [operations]
        security: [{}, {bearer: []}]
        responses:
          "200":
            description: "The OpenAPI document"
            content: {application/json: {schema: {$ref: "#/components/schemas/OpenApiDocument"}}}
          "401": {description: "An access or internal token was sent but is not valid",
            content: {application/problem+json: {schema: {$ref: "#/components/schemas/Problem"}}}}
        """
        audience = "full" if await _sees_internal(request) else "public"
        if audience not in cache:
            cache[audience] = build_spec(
                title, version, description, request.app.routes, models, internal=audience == "full"
            )
        headers = {"Vary": f"Authorization, {INTERNAL_HEADER}"}
        if audience == "full":
            headers["Cache-Control"] = "private, no-store"
        return JSONResponse(cache[audience], headers=headers)

    async def docs(request: Request) -> Response:
        """Swagger UI for this service.
        ---
        summary: API documentation (Swagger UI)
        tags: [operations]
        security: []
        responses:
          "200":
            description: "An HTML page"
            content: {text/html: {schema: {type: string}}}
        """
        return HTMLResponse(_DOCS_PAGE.format(title=title))

    return [
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        Mount("/docs/assets", app=StaticFiles(directory=swagger_ui_path), name="docs-assets"),
    ]
