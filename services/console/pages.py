"""The console's pages: one HTML shell at `/` and its ES modules and styles under `/console/`.

Every answer carries the console's security headers. The Content-Security-Policy allows
scripts and styles from this origin only (no `unsafe-inline`, no `eval`), calls to this
origin only (the gateway), and no framing (`frame-ancestors 'none'`, clickjacking). The
pages put what the API returns into the page as text (`textContent`), never as HTML.
Every asset, the chart library included (copied into `static/vendor/` from the pinned
npm package at `make run` / `make test` time), is served from here: nothing comes from
another site at run time, and the console works offline.

The shell (`index.html`) is rendered in the language the browser's `Accept-Language` asks
for (English or Simplified Chinese, from the same catalogues as the modules' words, under
`static/i18n/`); the page's language switch overrides that choice in the browser.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from string import Template

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = Path(__file__).parent / "static"
CATALOGUES = STATIC / "i18n"
LANGUAGES = ("en", "zh")  # catalogue names; the first is the default
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


class Shell(Template):
    """`${shell.title}`: a catalogue key (dotted) in the page's template."""

    idpattern = r"(?a:[a-z][a-z0-9_.]*)"


def choose_language(accept_language: str) -> str:
    """The catalogue an `Accept-Language` header prefers: its range with the highest q whose
    primary tag is one we have (`zh-CN`, `zh-Hans`, `zh` all mean the Chinese one), the
    first such range on a tie, English when none is (or the header is absent or garbled)."""
    best, best_q = LANGUAGES[0], 0.0
    for part in accept_language.split(","):
        tag, *params = (piece.strip() for piece in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.lower().split("-")[0]
        if primary in LANGUAGES and q > best_q:
            best, best_q = primary, q
    return best


def catalogue(language: str) -> dict[str, str]:
    words: dict[str, str] = json.loads((CATALOGUES / f"{language}.json").read_text(encoding="utf-8"))
    return words


def shell(language: str) -> str:
    """The page in `language`: every `${key}` of the template replaced by its catalogue text."""
    words = {key: html.escape(text) for key, text in catalogue(language).items()}
    return Shell((STATIC / "index.html").read_text(encoding="utf-8")).substitute(words)


async def index(request: Request) -> Response:
    language = choose_language(request.headers.get("accept-language", ""))
    headers = {
        **SECURITY_HEADERS,
        "Cache-Control": "no-cache",
        "Vary": "Accept-Language",
        "Content-Language": catalogue(language)["lang.tag"],
    }
    return HTMLResponse(shell(language), headers=headers)


def page_routes() -> list[Route | Mount]:
    assets = SecurityHeaders(StaticFiles(directory=STATIC, check_dir=False))
    return [
        Route("/", index, methods=["GET"], include_in_schema=False),
        Mount("/console", app=assets, name="console"),
    ]
