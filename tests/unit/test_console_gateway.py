"""The console gateway's own decisions, without a cluster: what it refuses before forwarding,
and moving on to the next node when one refuses the connection."""

from __future__ import annotations

import httpx
import pytest
from starlette.requests import Request

from services.common.calls import DependencyUnavailable
from services.common.problems import Forbidden, UnsupportedMediaType
from services.console.gateway import _first_answer, check_browser_request


def request(**headers: str) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {"type": "http", "method": "POST", "scheme": "http", "server": ("console", 8004), "path": "/api/x/y"}
    return Request({**scope, "headers": [(b"host", b"console:8004"), *raw], "query_string": b""})


def test_what_a_same_origin_page_sends_passes() -> None:
    check_browser_request(request(**{"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin"}))
    check_browser_request(request(**{"Content-Type": "text/csv", "Origin": "http://console:8004"}))
    check_browser_request(request())  # a client that is no browser (curl) sends neither


@pytest.mark.parametrize("kind", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x"])
def test_bodies_a_cross_site_form_can_send_are_refused(kind: str) -> None:
    with pytest.raises(UnsupportedMediaType):
        check_browser_request(request(**{"Content-Type": kind}))


@pytest.mark.parametrize(
    "headers", [{"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}, {"Origin": "http://evil:8004"}]
)
def test_requests_from_another_site_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(Forbidden):
        check_browser_request(request(**headers))


async def test_a_node_refusing_the_connection_is_skipped_and_a_timeout_is_not_resent() -> None:
    seen: list[str] = []

    def answer(sent: httpx.Request) -> httpx.Response:
        seen.append(sent.url.host)
        if sent.url.host == "down":
            raise httpx.ConnectError("refused")
        if sent.url.host == "slow":
            raise httpx.ReadTimeout("no answer")
        return httpx.Response(200, json={"from": sent.url.host, "auth": sent.headers.get("authorization")})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        headers = [("authorization", "Bearer t")]
        got = await _first_answer(http, ["http://down", "http://up"], "GET", "/x", headers, b"")
        assert got.json() == {"from": "up", "auth": "Bearer t"}
        with pytest.raises(DependencyUnavailable):  # it may have been delivered: never sent twice
            await _first_answer(http, ["http://slow", "http://up"], "POST", "/x", headers, b"")
        with pytest.raises(DependencyUnavailable):
            await _first_answer(http, ["http://down"], "GET", "/x", headers, b"")
    assert seen == ["down", "up", "slow", "down"]
