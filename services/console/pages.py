"""The console's pages: one HTML shell at `/` and its ES modules and styles under `/console/`.

Every answer carries the console's security headers. The Content-Security-Policy allows
scripts and styles from this origin only (no `unsafe-inline`, no `eval`), calls to this
origin only (the gateway), and no framing (`frame-ancestors 'none'`, clickjacking). The
pages put what the API returns into the page as text (`textContent`), never as HTML.
Every asset, the chart library included (copied into `static/vendor/` from the pinned
npm package at `make run` / `make test` time), is served from here: nothing comes from
another site at run time, and the console works offline.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class SecurityHeaders:
    """Adds the console's headers to every answer of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})


def page_routes() -> list[Route | Mount]:
    assets = SecurityHeaders(StaticFiles(directory=STATIC, check_dir=False))
    return [
        Route("/", index, methods=["GET"], include_in_schema=False),
        Mount("/console", app=assets, name="console"),
    ]
