"""A shortcut for the few endpoints that take a rush: straight from the middleware to the handler.

Starlette's router tries each route's pattern in turn and wraps the handler in its
exception and request/response layers; for `POST /queue/requests` at registration
opening that is most of the cost of a request. This middleware, placed after the
request-context middleware (request id, body limit, metrics, access log), sends an exact
(method, path) match to its handler directly, with the same problem+json answers for
errors. The route stays in the router too (documentation, role tests, other methods).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.problems import ProblemError, problem_response

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class HotRoute:
    path: str  # what metrics and logs show as the route


class HotPathMiddleware:
    def __init__(self, app: ASGIApp, *, routes: Mapping[tuple[str, str], Endpoint]) -> None:
        self.app = app
        self.routes = dict(routes)
        self.labels = {key: HotRoute(key[1]) for key in routes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = (scope.get("method", ""), scope.get("path", "")) if scope["type"] == "http" else ("", "")
        endpoint = self.routes.get(key)
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.labels[key]
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except ProblemError as exc:
            response = problem_response(exc.status, exc.slug, exc.title, exc.detail, request, exc.extra, exc.headers)
        await response(scope, receive, send)
