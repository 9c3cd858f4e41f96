"""Internal calls to a master end once that master is gone, not at the read timeout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from cluster.errors import MasterLostLeaseError
from cluster.internal_auth import InternalTokens
from cluster.internal_client import InternalClient
from cluster.model import ClusterModel, Member
from tests.support import free_port


class Wall:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cluster_with(master: str, url: str, wall: Wall, ttl: float) -> ClusterModel:
    model = ClusterModel()
    model.register(Member(master, "course_data", url, "127.0.0.1:1", "1", wall.now, wall.now))
    assert model.acquire("course_data", master, wall.now, ttl).granted
    return model


@pytest.fixture
async def silent() -> AsyncIterator[str]:
    """A node that accepts connections and reads requests but never answers (frozen)."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.fixture
async def answering() -> AsyncIterator[str]:
    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
def tokens() -> InternalTokens:
    return InternalTokens("s" * 32, "course_data-2")


async def test_a_call_to_a_master_that_stops_renewing_ends_when_its_lease_does(
    silent: str, tokens: InternalTokens
) -> None:
    wall = Wall()
    model = cluster_with("course_data-1", silent, wall, ttl=0.2)
    client = InternalClient(lambda: model, tokens, "course_data-2", timeout=120, wall=wall)
    try:
        call = asyncio.create_task(client.forward("course_data", "POST", "/x", [], b"{}"))
        await asyncio.sleep(0)  # the call has picked its master and is sending
        wall.now += 1.0  # and when that master's lease ends, no renewal has come
        with pytest.raises(MasterLostLeaseError, match="lost its lease"):
            async with asyncio.timeout(10):  # far below the 120 s read timeout
                await call
    finally:
        await client.aclose()


async def test_a_call_that_cannot_connect_goes_to_the_new_master_once(answering: str, tokens: InternalTokens) -> None:
    wall = Wall()
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    views = iter([cluster_with("course_data-1", dead, wall, ttl=5), cluster_with("course_data-3", answering, wall, 5)])
    seen: list[ClusterModel] = []

    def model() -> ClusterModel:
        seen.append(next(views, seen[-1] if seen else ClusterModel()))
        return seen[-1]

    client = InternalClient(model, tokens, "course_data-2", wall=wall)
    try:
        answer = await client.call_master("course_data", "GET", "/x")
    finally:
        await client.aclose()
    assert answer.status_code == 200
    assert answer.text == "ok"
