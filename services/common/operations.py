"""Endpoints every node answers: `/health`, `/ready`, `/metrics`."""

from __future__ import annotations

import asyncio
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.common.answers import JSONResponse
from services.common.context import context_of
from services.common.problems import ServiceUnavailable

_CHECK_TIMEOUT = 2.0


async def health(request: Request) -> Response:
    """Liveness: the process is up and serving HTTP.
    ---
    summary: Liveness
    tags: [operations]
    security: []
    responses:
      "200":
        description: "The node is alive"
        content: {application/json: {schema: {$ref: "#/components/schemas/Health"}}}
    """
    ctx = context_of(request)
    return JSONResponse(
        {
            "status": "ok",
            "service": ctx.node.service,
            "node": ctx.node.id,
            "uptime_seconds": round(time.monotonic() - ctx.started_at, 3),
        }
    )


async def ready(request: Request) -> Response:
    """Readiness: every dependency of this node answers (storage, Redis, Raft).
    ---
    summary: Readiness
    tags: [operations]
    security: []
    responses:
      "200":
        description: "Ready to serve"
        content: {application/json: {schema: {$ref: "#/components/schemas/Ready"}}}
      "503":
        description: A dependency does not answer
        content:
          application/problem+json:
            schema: {$ref: "#/components/schemas/Problem"}
    """
    ctx = context_of(request)
    names = list(ctx.readiness)
    results = await asyncio.gather(
        *(asyncio.wait_for(ctx.readiness[name](), _CHECK_TIMEOUT) for name in names), return_exceptions=True
    )
    checks = {
        name: "ok" if not isinstance(result, BaseException) else f"failed: {type(result).__name__}: {result}"
        for name, result in zip(names, results, strict=True)
    }
    if any(value != "ok" for value in checks.values()):
        failing = ", ".join(name for name, value in checks.items() if value != "ok")
        raise ServiceUnavailable(f"not ready: {failing}", checks=checks)
    return JSONResponse({"ready": True, "node": ctx.node.id, "checks": checks})


async def metrics(request: Request) -> Response:
    """Prometheus metrics of this node.
    ---
    summary: Prometheus metrics
    tags: [operations]
    security: []
    responses:
      "200":
        description: Prometheus text exposition format
        content:
          text/plain: {schema: {type: string}}
    """
    body = context_of(request).metrics.render()
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


def operations_routes() -> list[BaseRoute]:
    return [
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
