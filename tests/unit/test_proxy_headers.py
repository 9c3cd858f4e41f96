"""Which X-Forwarded-For a real uvicorn believes, with the options `serve_node` gives it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from services.runtime import proxy_options
from tests.support import free_port, make_config, wait_until


async def _echo_client(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app that answers the client address uvicorn saw."""
    assert scope["type"] == "http"
    body = (scope["client"] or ("none", 0))[0].encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def serving(tmp_path: Path, **env: str) -> Iterator[str]:
    config = make_config(tmp_path, services=("login",), **env)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            _echo_client, host="127.0.0.1", port=port, lifespan="off", log_config=None, **proxy_options(config)
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, 20, "uvicorn started")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


def seen_from(url: str, source: str, forwarded_for: str) -> str:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport) as client:
        return client.get(url, headers={"X-Forwarded-For": forwarded_for}).text


def test_by_default_no_peer_chooses_its_address(tmp_path: Path) -> None:
    with serving(tmp_path) as url:
        assert seen_from(url, "127.0.0.1", "198.51.100.7") == "127.0.0.1"  # loopback is not trusted either


@pytest.mark.parametrize("trusted", ['["127.0.0.2"]', '["127.0.0.0/30"]'])
def test_a_configured_proxy_is_believed_and_no_one_else(tmp_path: Path, trusted: str) -> None:
    with serving(tmp_path, CS_HTTP__TRUSTED_PROXIES=trusted) as url:
        assert seen_from(url, "127.0.0.2", "198.51.100.7") == "198.51.100.7"
        assert seen_from(url, "127.0.0.5", "198.51.100.7") == "127.0.0.5"


def test_trusted_proxies_must_be_addresses(tmp_path: Path) -> None:
    from cluster.errors import ConfigError

    with pytest.raises(ConfigError, match="trusted_proxies"):
        make_config(tmp_path, services=("login",), CS_HTTP__TRUSTED_PROXIES='["proxy.example"]')
