"""Errors as `application/problem+json` (RFC 9457), with a stable `type` per error."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from cluster.errors import ClusterError, LeaseNotHeldError, MasterUnknownError
from services.common.answers import JSONResponse
from storage.errors import StaleEpochError, StorageError, StorageFullError

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "/problems/"
MAX_LISTED_ERRORS = 20  # a 422 lists the first ones and counts them all: its size stays small


class ProblemError(Exception):
    """Base of every error a handler raises on purpose; rendered as problem+json."""

    status = 500
    slug = "internal-error"
    title = "Internal error"

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extra = extra


class BadRequest(ProblemError):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(ProblemError):
    status, slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(ProblemError):
    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(ProblemError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(ProblemError):
    status, slug, title = 409, "conflict", "Conflict"


class PayloadTooLarge(ProblemError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class UnsupportedMediaType(ProblemError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class ValidationFailed(ProblemError):
    """422: `errors` lists `{field, message}` for the invalid fields: the first
    `MAX_LISTED_ERRORS`, with `error_count` saying how many there were in all."""

    status, slug, title = 422, "validation-error", "Invalid request"

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        errors = extra.get("errors")
        if isinstance(errors, Sequence):
            extra.setdefault("error_count", len(errors))
            extra["errors"] = list(errors[:MAX_LISTED_ERRORS])
        super().__init__(detail, headers=headers, **extra)

    @classmethod
    def of(cls, exc: ValidationError, root: str = "(body)") -> ValidationFailed:
        """The 422 for a pydantic error: the first fields named, and how many there were."""
        errors = [
            {"field": ".".join(str(p) for p in err["loc"]) or root, "message": err["msg"]}
            for err in exc.errors(include_url=False)[:MAX_LISTED_ERRORS]
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        if exc.error_count() > len(errors):
            detail += f"; and {exc.error_count() - len(errors)} more"
        return cls(detail, errors=errors, error_count=exc.error_count())


class BodyTooComplex(ValidationFailed):
    """422: the JSON body passes a parsing limit (depth, keys, values, length, 64-bit numbers)."""

    slug, title = "body-too-complex", "The JSON body passes a parsing limit"


class ServiceUnavailable(ProblemError):
    status, slug, title = 503, "unavailable", "Service unavailable"


class MasterUnavailable(ServiceUnavailable):
    slug, title = "no-master", "No master for this service right now"


class WriteFenced(ServiceUnavailable):
    slug, title = "fenced", "This node is no longer the master"


def cluster_problem(exc: ClusterError) -> ProblemError:
    """The 503 (with Retry-After) for a cluster error that reached a handler: an election
    or a lease that lapsed is a moment to wait out, never a 500. (A call to another
    service's master maps its own `MasterUnknownError` to `dependency-unavailable`.)"""
    retry = {"Retry-After": "1"}
    if isinstance(exc, LeaseNotHeldError):  # the lease lapsed between the check and the write
        return MasterUnavailable("this node's master lease lapsed; retry", headers=retry)
    if isinstance(exc, MasterUnknownError):
        return MasterUnavailable(str(exc), headers=retry)
    return ServiceUnavailable(str(exc), headers=retry)


class RedisUnavailable(ServiceUnavailable):
    slug, title = "redis-unavailable", "Redis cannot serve this request right now"


def redis_problem(exc: RedisError) -> ProblemError | None:
    """The 503 (with Retry-After) for Redis being unreachable, frozen, loading, read-only or out
    of memory: a fault to retry, not a bug; None for any other Redis error (a 500)."""
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | ReadOnlyError):  # (loading is a ConnectionError)
        cause = "unreachable" if not isinstance(exc, RedisTimeoutError) else "not answering"
    elif isinstance(exc, OutOfMemoryError) or str(exc).startswith("OOM"):  # (a script's too)
        cause = "out of memory (maxmemory reached; nothing is evicted)"
    else:
        return None
    return RedisUnavailable(f"Redis is {cause}; nothing was recorded: retry", headers={"Retry-After": "1"})


_HTTP_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    429: "too-many-requests",
}


def problem_body(exc: ProblemError, request_id: str | None) -> dict[str, Any]:
    body = {"type": TYPE_PREFIX + exc.slug, "title": exc.title, "status": exc.status, "detail": exc.detail}
    body.update(exc.extra)
    if request_id:
        body["request_id"] = request_id
    return body


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    request: Request,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = {"type": TYPE_PREFIX + slug, "title": title, "status": status, "detail": detail, **(extra or {})}
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(exc.status, exc.slug, exc.title, exc.detail, request, exc.extra, exc.headers)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    slug = _HTTP_SLUGS.get(exc.status_code, f"http-{exc.status_code}")
    title = slug.replace("-", " ").capitalize()
    detail = exc.detail
    if exc.status_code == 405:
        detail = f"{request.method} is not allowed here; allowed: {(exc.headers or {}).get('Allow', '')}"
    elif exc.status_code == 404 and detail == "Not Found":
        detail = f"no resource at {request.url.path}"
    return problem_response(exc.status_code, slug, title, detail, request, headers=dict(exc.headers or {}))


async def _on_redis_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RedisError)
    problem = redis_problem(exc)
    if problem is None:
        raise exc  # a bug: the 500 below, with the traceback in the log
    return await _on_problem(request, problem)


async def _on_cluster_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ClusterError)
    return await _on_problem(request, cluster_problem(exc))


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log (uvicorn logs the re-raised exception); never to the client.
    request_id = getattr(request.state, "request_id", "")
    return problem_response(
        500,
        ProblemError.slug,
        ProblemError.title,
        "An unexpected error occurred; quote the request id when reporting it.",
        request,
        headers={"X-Request-ID": request_id} if request_id else None,
    )


async def _on_storage(request: Request, exc: Exception) -> Response:
    # A database that is busy, unreachable or full is an outage to retry, never a 500.
    if isinstance(exc, StaleEpochError):  # (and LeaseEndedError) the writer has stepped down
        fenced = WriteFenced("a newer master has written; retry", headers={"Retry-After": "1"})
        return await _on_problem(request, fenced)
    if isinstance(exc, StorageFullError):
        return problem_response(507, "insufficient-storage", "The database's disk is full", str(exc), request)
    headers = {"Retry-After": "1"}
    return problem_response(
        503, "storage-unavailable", "The database cannot take this now", str(exc), request, headers=headers
    )


EXCEPTION_HANDLERS = {
    ProblemError: _on_problem,
    StorageError: _on_storage,
    ClusterError: _on_cluster_error,
    HTTPException: _on_http_exception,
    RedisError: _on_redis_error,
    Exception: _on_unexpected,
}

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {
            "type": "string",
            "pattern": "^/problems/[a-z0-9-]+$",
            "description": "the stable problem type (the catalogue: docs/api.md)",
            "examples": ["/problems/not-found"],
        },
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "description": f"the first {MAX_LISTED_ERRORS} invalid fields",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "error_count": {"type": "integer", "description": "how many invalid fields there were in all"},
    },
}
