"""The components every service's OpenAPI shares: the problem answers every operation
can give, and the parameters repeated across routes.

Route docstrings document what is particular to a route (its 409s, its 202). The
answers that follow from the shared pieces are added here, once, as references to
shared components (each a problem+json): 401 and 403 wherever a bearer token is
required (a missing or bad token; a role that may not, or a token restricted to a
password change), 401 wherever an internal token is, 404 for a path with parameters
(no such resource), 422 for query or header parameters and bodies that do not
validate, 413 and 415 for bodies (too large; not the media type), and 503 for the
writes a slave forwards to its master (none elected right now, or it did not answer).

The internal-token header and `page` / `page_size` are shared parameters: a docstring
refers to them (`- $ref: "#/components/parameters/Page"`); one that spells one out gets
the reference too. An error answer a docstring documents by its description alone gets
the problem+json content: every 4xx and 5xx of every operation is a `Problem`.
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec

_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
COMMON_RESPONSES: dict[str, tuple[str, str]] = {
    "401": ("Unauthorized", "No valid token: send `Authorization: Bearer <access token>` (or the internal token)"),
    "403": ("Forbidden", "Not allowed for this role or account, or the token may only change its password"),
    "404": ("NotFound", "No such resource"),
    "413": ("PayloadTooLarge", "The body is over the size limit (http.max_body_bytes)"),
    "415": ("UnsupportedMediaType", "The body is not of a media type this operation reads"),
    "422": ("ValidationFailed", "A parameter or the body is invalid: `errors` names the first fields, `error_count`"),
    "503": (
        "ServiceUnavailable",
        "No master right now, or it did not answer, or (a bearer token) the signing keys are not known here yet:"
        " retry after `Retry-After` seconds",
    ),
}


SHARED_PARAMETERS: dict[str, dict[str, Any]] = {
    "InternalToken": {
        "in": "header",
        "name": "X-Internal-Token",
        "required": True,
        "description": "A 60-second internal token (other nodes and operator tools)",
        "schema": {"type": "string"},
    },
    "Page": {
        "in": "query",
        "name": "page",
        "description": "The page, from 1",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
    },
    "PageSize": {
        "in": "query",
        "name": "page_size",
        "description": "Items per page (20 unless given)",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
    },
}


def register_components(spec: APISpec) -> None:
    for name, description in COMMON_RESPONSES.values():
        spec.components.response(name, {"description": description, "content": _PROBLEM})
    for name, parameter in SHARED_PARAMETERS.items():
        spec.components.parameter(name, parameter["in"], parameter)


def _shared(parameter: dict[str, Any]) -> dict[str, Any] | str:
    """The name of the shared parameter `parameter` refers to or spells out (apispec makes
    it a reference), or `parameter` itself."""
    ref = parameter.get("$ref", "")
    if ref.startswith("#/components/parameters/"):
        return str(ref.removeprefix("#/components/parameters/"))
    for name, shared in SHARED_PARAMETERS.items():
        if (parameter.get("in"), parameter.get("name")) == (shared["in"], shared["name"]) and parameter.get(
            "required", False
        ) == shared.get("required", False):
            return name
    return parameter


def add_shared(operation: dict[str, Any], path: str, forwarded: bool) -> None:
    """Reference the shared answers `operation` can give (keeping those its docstring
    documents), and the shared parameters for those it spells out."""
    responses = operation.setdefault("responses", {"200": {"description": "OK"}})
    for code, response in responses.items():
        if str(code)[0] in "45" and "$ref" not in response and "content" not in response:
            response["content"] = _PROBLEM
    parameters = [_spelled_out(p) for p in operation.get("parameters", [])]
    internal = any(p.get("name", "").lower() == "x-internal-token" for p in parameters)
    security = operation.get("security", [])
    bearer = bool(security) and all("bearer" in requirement for requirement in security)  # `{}`: optional
    checked = [
        p for p in parameters if p.get("in") in ("query", "header") and p.get("name", "").lower() != "x-internal-token"
    ]
    codes = set()
    if bearer or internal:
        codes.add("401")
    if bearer:  # the verifier may need the login service's keys first (services/common/auth.py)
        codes |= {"403", "503"}
    if "{" in path:
        codes.add("404")
    if checked:
        codes.add("422")
    if "requestBody" in operation:
        codes |= {"413", "415", "422"}
    if forwarded:
        codes.add("503")
    for code in sorted(codes):
        responses.setdefault(code, {"$ref": f"#/components/responses/{COMMON_RESPONSES[code][0]}"})
    if parameters:
        operation["parameters"] = [_shared(p) for p in operation["parameters"]]


def _spelled_out(parameter: dict[str, Any]) -> dict[str, Any]:
    """The shared parameter `parameter` refers to, or `parameter` itself."""
    name = parameter.get("$ref", "").removeprefix("#/components/parameters/")
    return SHARED_PARAMETERS.get(name, parameter)
