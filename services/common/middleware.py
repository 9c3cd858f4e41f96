"""Per-request context: request id, body size limit, metrics and the JSON access log.

A pure ASGI middleware (no BaseHTTPMiddleware): it adds no task or queue per request.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.metrics import HttpMetrics
from services.common.problems import PayloadTooLarge, problem_response

access_log = logging.getLogger("course_selection.access")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContextMiddleware:
    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, metrics: HttpMetrics, max_import_bytes: int | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # CSV imports (paths ending in /import) may be larger: their jobs parse them in a worker.
        self.max_import_bytes = max(max_body_bytes, max_import_bytes or 0)
        self.metrics = metrics
        self.ids = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = self.ids.of(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            declared = _content_length(scope)
            limit = self.max_import_bytes if scope["path"].endswith("/import") else self.max_body_bytes
            if declared is not None and declared > limit:
                status = 413
                too_large = PayloadTooLarge(f"the body may be at most {limit} bytes")
                response = problem_response(413, too_large.slug, too_large.title, too_large.detail, Request(scope))
                await response(scope, receive, send_with_id)
                return
            await self.app(scope, self._limited(receive, limit), send_with_id)
        finally:
            route = scope.get("route")
            record_access(self.metrics, scope, getattr(route, "path", "<unmatched>"), status, request_id, started)

    def _limited(self, receive: Receive, limit: int) -> Receive:
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise PayloadTooLarge(f"the body may be at most {limit} bytes")
            return message

        return limited_receive


class RequestIds:
    """The client's request id if it sent a sane one, else a random prefix per process and a
    counter (no system call per request)."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(6)
        self._count = itertools.count(1)

    def of(self, scope: Scope) -> str:
        return _request_id(scope) or f"{self._prefix}-{next(self._count):x}"


def record_access(metrics: HttpMetrics, scope: Scope, route: str, status: int, request_id: str, started: float) -> None:
    """Count the request in the metrics and write its access-log line (when info is on)."""
    elapsed = time.perf_counter() - started
    metrics.observe(scope["method"], route, status, elapsed)
    if access_log.isEnabledFor(logging.INFO):
        client = scope.get("client")
        access_log.info(
            "request",
            extra={
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"],
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 3),
                "client": f"{client[0]}:{client[1]}" if client else None,
            },
        )


def _request_id(scope: Scope) -> str | None:
    """The client's request id, if it sent a sane one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            if _VALID_REQUEST_ID.match(text):
                return text
            break
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
