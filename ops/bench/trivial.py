"""The rush benchmark's baseline: a trivial Starlette endpoint served like a node.

`POST /queue/requests` parses the same JSON body as the queue's admission and answers a
constant 202; `GET /count` tells how many it answered and when the first and last came.

    python -m ops.bench.trivial PORT
"""

from __future__ import annotations

import json
import sys
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ANSWER = {"queue_request_id": "0" * 20, "status": "pending", "position": 1}


def create_app() -> Starlette:
    seen = {"count": 0, "first": 0.0, "last": 0.0}

    async def admit(request: Request) -> Response:
        json.loads(await request.body())
        now = time.time()
        seen["first"] = seen["first"] or now
        seen["count"], seen["last"] = seen["count"] + 1, now
        return JSONResponse(ANSWER, status_code=202)

    async def count(request: Request) -> Response:
        return JSONResponse(seen)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/queue/requests", admit, methods=["POST"]),
            Route("/count", count),
            Route("/health", health),
        ]
    )


if __name__ == "__main__":
    uvicorn.run(
        create_app(),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        server_header=False,
    )
