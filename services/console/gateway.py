"""The console's same-origin gateway: `/api/<service>/<path>` sent on to a healthy node of
that service, found in the replicated membership.

The browser may only call the origin that served the page (no CORS anywhere), so the
console's calls come here and go on unchanged: the client's `Authorization` passes through
as it came and nothing is added to it (no internal token: the gateway grants nothing the
caller does not hold). What the gateway does refuse or drop is about the browser:

- `Cookie` is never forwarded. The API authenticates by bearer token only, and the console
  keeps its tokens in memory, so a cookie can never be a credential here (CSRF needs one).
- A body of a type a cross-site form or a no-CORS `fetch` can send (form, multipart,
  text/plain) is refused with 415: the API takes JSON and CSV only, and this keeps a
  page of another site from making any write through a user's browser at all.
- A request that the browser marks as coming from another site (`Sec-Fetch-Site`) or that
  names another `Origin` is refused with 403.
- `/internal/...` paths are 404: they need the cluster's internal token, never a user's.

Nodes down or not answering are skipped: the first healthy node that accepts the
connection answers (a connection refused is safe to send elsewhere). The client's address
goes on in `X-Forwarded-For`, which a node believes only when `http.trusted_proxies` names
the console nodes (the login throttle then counts the real client, not the console node).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cluster.config import SERVICES
from services.common.calls import DependencyUnavailable
from services.common.context import context_of
from services.common.problems import BadRequest, Forbidden, NotFound, UnsupportedMediaType

CONNECT_SECONDS = 3.0
ANSWER_SECONDS = 90.0  # a long poll waits up to 60 s; an import's upload may take a while
_SENT_ON = {"authorization", "content-type", "accept", "if-none-match", "idempotency-key", "x-request-id"}
_RELAYED = {"content-type", "etag", "retry-after", "location", "content-disposition", "cache-control", "x-request-id"}
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


class CrossSiteRequest(Forbidden):
    slug, title = "cross-site-request", "Requests from another site are refused"


class Gateway:
    """Holds the gateway's own HTTP client (no internal token is ever minted by it)."""

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(ANSWER_SECONDS, connect=CONNECT_SECONDS),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=2.0),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self.http.aclose()


def gateway_routes() -> list[Route]:
    return [Route("/api/{service}/{path:path}", relay_to_service, methods=METHODS, include_in_schema=False)]


def check_browser_request(request: Request) -> None:
    """Refuse what only another site's page would send (see the module's docstring)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise CrossSiteRequest(f"Sec-Fetch-Site is {site!r}: the console calls only its own origin")
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise CrossSiteRequest(f"Origin {origin!r} is not this console's")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in _FORM_TYPES:
        raise UnsupportedMediaType(f"{kind} is not accepted: send application/json (or text/csv for an import)")


def healthy_nodes(request: Request, service: str) -> list[str]:
    """URLs of the service's nodes with a recent heartbeat, in random order (spreads the load)."""
    cluster = context_of(request).cluster
    now, down_after = time.time(), cluster.config.raft.member_down_after_seconds
    urls = [m.url for m in cluster.raft.model.members.values() if m.service == service and m.healthy(now, down_after)]
    random.shuffle(urls)
    return urls


async def relay_to_service(request: Request) -> Response:
    service, path = request.path_params["service"], request.path_params["path"]
    if service not in SERVICES:
        raise NotFound(f"no service {service!r}: one of {', '.join(SERVICES)}")
    if ".." in path.split("/"):
        raise BadRequest("the path may not climb out of the service")
    if path.split("/")[0] == "internal":
        raise NotFound("internal routes are not reachable through the console")
    check_browser_request(request)
    nodes = healthy_nodes(request, service)
    if not nodes:
        raise DependencyUnavailable(f"no {service} node is up", headers={"Retry-After": "1"})
    gateway = context_of(request).state(Gateway)
    body = await request.body()
    target = "/" + path + (f"?{request.url.query}" if request.url.query else "")
    headers = [(k, v) for k, v in request.headers.items() if k.lower() in _SENT_ON]
    if request.client is not None:
        headers.append(("X-Forwarded-For", request.client.host))
    answer = await _first_answer(gateway.http, nodes, request.method, target, headers, body)
    return Response(
        answer.content,
        status_code=answer.status_code,
        headers={k: v for k, v in answer.headers.items() if k.lower() in _RELAYED},
    )


async def _first_answer(
    http: httpx.AsyncClient, nodes: Sequence[str], method: str, target: str, headers: list[tuple[str, str]], body: bytes
) -> httpx.Response:
    for url in nodes:
        try:
            return await http.request(method, url + target, headers=headers, content=body)
        except (httpx.ConnectError, httpx.ConnectTimeout):  # never delivered: the next node may take it
            continue
        except httpx.HTTPError as exc:
            raise DependencyUnavailable(f"{url}: {type(exc).__name__}", headers={"Retry-After": "1"}) from None
    raise DependencyUnavailable("no node of the service accepted the connection", headers={"Retry-After": "1"})
