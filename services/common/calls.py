"""Calling another service's master from a handler, and relaying its answer."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response

from cluster.errors import MasterUnknownError
from services.common.context import context_of
from services.common.problems import ServiceUnavailable

_RELAYED = ("content-type", "etag", "retry-after", "location", "allow")


class DependencyUnavailable(ServiceUnavailable):
    slug, title = "dependency-unavailable", "A service this needs cannot be reached right now"


async def call_service(request: Request, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """An internal call to `service`'s master; 503 with Retry-After when it cannot be reached."""
    try:
        return await context_of(request).cluster.client.call_master(service, method, path, **kwargs)
    except MasterUnknownError as exc:
        raise DependencyUnavailable(str(exc), headers={"Retry-After": "1"}) from None
    except httpx.HTTPError as exc:
        raise DependencyUnavailable(f"{service}: {type(exc).__name__}", headers={"Retry-After": "1"}) from None


def relay(answer: httpx.Response) -> Response:
    headers = {k: v for k, v in answer.headers.items() if k.lower() in _RELAYED}
    return Response(answer.content, status_code=answer.status_code, headers=headers)
