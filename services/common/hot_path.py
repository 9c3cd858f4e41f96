"""A raw path for the few endpoints that take a rush (`POST /queue/requests`).

At registration opening most of a request's cost would be layers: the request-context
middleware's send wrapper, the router trying each pattern, the request and response
objects. This middleware comes first among the app's and answers an exact
(method, path) match itself: it reads the headers once and the body (within the size
limit), calls a raw handler `(ctx, headers, body) -> (status, JSON, headers)`, writes
the answer (JSON by `orjson`: measured, about a fifth less of admission's time in the app
than with the standard library's `json`), and keeps the contract of every other endpoint: the
request id, problem+json errors, metrics and the access log. Other requests pass through
untouched. The route is
also in the router, through `as_endpoint`, for the documentation and other callers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.answers import JSONResponse
from services.common.instants import render
from services.common.metrics import HttpMetrics
from services.common.middleware import RequestIds, record_access
from services.common.problems import PROBLEM_MEDIA_TYPE, PayloadTooLarge, ProblemError, problem_body, redis_problem

log = logging.getLogger("course_selection.app")

Headers = Mapping[bytes, bytes]  # lower-case names (as ASGI gives them)
Answer = tuple[int, Any, Mapping[str, str]]  # status, JSON body, extra headers
RawHandler = Callable[[Any, Headers, bytes], Awaitable[Answer]]  # (node context, headers, body)


class HotPathMiddleware:
    def __init__(
        self, app: ASGIApp, *, routes: Mapping[tuple[str, str], RawHandler], metrics: HttpMetrics, max_body_bytes: int
    ) -> None:
        self.app = app
        self.routes = dict(routes)
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.ids = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self.routes.get((scope.get("method", ""), scope.get("path", ""))) if scope["type"] == "http" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = self.ids.of(scope)
        headers = dict(scope["headers"])
        media_type = b"application/json"
        try:
            status, body, extra = await handler(scope["state"]["ctx"], headers, await self._body(headers, receive))
        except ProblemError as exc:
            status, body, extra, media_type = exc.status, problem_body(exc, request_id), exc.headers, b""
        except RedisError as exc:
            problem = redis_problem(exc) or ProblemError()
            if problem.status == 500:
                log.exception("unhandled error", extra={"request_id": request_id, "path": scope["path"]})
            status, body, extra, media_type = problem.status, problem_body(problem, request_id), problem.headers, b""
        except Exception:
            log.exception("unhandled error", extra={"request_id": request_id, "path": scope["path"]})
            status, body, extra, media_type = 500, problem_body(ProblemError(), request_id), {}, b""
        payload = orjson.dumps(render(body))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", media_type or PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(payload)).encode()),
                    (b"x-request-id", request_id.encode()),
                    *((k.lower().encode(), v.encode()) for k, v in extra.items()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
        record_access(self.metrics, scope, scope["path"], status, request_id, started)

    async def _body(self, headers: Headers, receive: Receive) -> bytes:
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and (len(declared) > 18 or int(declared) > self.max_body_bytes):
            raise PayloadTooLarge(f"the body may be at most {self.max_body_bytes} bytes")
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise PayloadTooLarge(f"the body may be at most {self.max_body_bytes} bytes")
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)


def as_endpoint(handler: RawHandler) -> Callable[[Request], Awaitable[Response]]:
    """The same handler as an ordinary Starlette endpoint (for the router)."""

    async def endpoint(request: Request) -> Response:
        headers = {k.encode("latin-1"): v.encode("latin-1") for k, v in request.headers.items()}
        status, body, extra = await handler(request.state.ctx, headers, await request.body())
        return JSONResponse(body, status_code=status, headers=dict(extra))

    endpoint.__doc__, endpoint.__name__ = handler.__doc__, handler.__name__  # its OpenAPI text
    return endpoint
