"""What the registrar's desk (course_data) asks the queue about one student (internal)."""

from __future__ import annotations

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.common.answers import JSONResponse
from services.common.internal import require_internal
from services.common.problems import ServiceUnavailable
from services.queue.state import queue_of


async def open_requests(request: Request) -> Response:
    """How many of a student's requests wait in the queue (pending or being decided), as admission counts them.
    ---
    summary: A student's open requests (internal)
    tags: [internal]
    parameters:
      - {in: header, name: X-Internal-Token, required: true, schema: {type: string}}
      - {in: path, name: id, required: true, schema: {type: integer}}
    responses:
      "200":
        description: The count
        content:
          application/json:
            schema: {type: object, required: [open], properties: {open: {type: integer, minimum: 0}}}
    """
    require_internal(request)
    try:
        count = await queue_of(request).store.open_requests(request.path_params["id"])
    except RedisError as exc:
        raise ServiceUnavailable(f"redis: {type(exc).__name__}", headers={"Retry-After": "1"}) from None
    return JSONResponse({"open": count})


def desk_routes() -> list[BaseRoute]:
    return [Route("/internal/queue/students/{id:int}/open", open_requests, methods=["GET"])]
