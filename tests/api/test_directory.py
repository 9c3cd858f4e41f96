"""The people directory against a real login node (in-process, real Redis): ids to people,
student numbers and usernames to ids, in bounded batches, by internal token only."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
import redis
from starlette.testclient import TestClient

from cluster.config import ClusterConfig
from cluster.internal_auth import HEADER, InternalTokens
from cluster.internal_client import NoMasterError
from cluster.secrets import load_or_create_secret
from services import app_factory
from services.common.calls import DependencyUnavailable
from services.common.context import NodeContext
from services.common.directory import BATCH, Person, people_by_id, resolve
from tests.api.login_kit import Account, default_account
from tests.support import make_config, wait_master


@pytest.fixture
def config(tmp_path: Path, redis_url: str) -> ClusterConfig:
    redis.Redis.from_url(redis_url).flushdb()
    return make_config(tmp_path, redis_url=redis_url, services=("login",))


@pytest.fixture
def client(config: ClusterConfig) -> Iterator[TestClient]:
    with TestClient(app_factory("login")(config, config.nodes[0]), raise_server_exceptions=False) as test_client:
        wait_master(test_client, config)
        yield test_client


@pytest.fixture
def admin(client: TestClient) -> Account:
    return default_account(client, "admin")


class ToLogin:
    """A node's internal client, its master being the login node under test: each call is a
    real request to it with a real internal token (and counted)."""

    def __init__(self, client: TestClient, config: ClusterConfig, fail: Exception | None = None) -> None:
        self.client = client
        self.tokens = InternalTokens(load_or_create_secret(config.data_dir, "cluster"), "tests")
        self.calls: list[dict[str, Any]] = []
        self.fail = fail

    async def call_master(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        assert service == "login"
        if self.fail is not None:
            raise self.fail
        self.calls.append(kwargs["json"])
        answer = self.client.request(method, path, headers={HEADER: self.tokens.mint()}, **kwargs)
        return httpx.Response(answer.status_code, content=answer.content, headers=dict(answer.headers))


def ctx_of(caller: ToLogin) -> NodeContext:
    return cast(NodeContext, SimpleNamespace(cluster=SimpleNamespace(client=caller)))


def make_users(client: TestClient, admin: Account) -> dict[str, int]:
    ids: dict[str, int] = {}
    bodies: list[dict[str, Any]] = [
        {"username": "ann", "role": "student", "full_name": "Ann Lee", "email": "ann@uni.example",
         "student_number": "S1234567", "cohort": 2025},
        {"username": "ada", "role": "teacher", "full_name": "Ada Lovelace", "email": "ada@uni.example"},
        {"username": "bob", "role": "student", "student_number": "7654321"},
    ]  # fmt: skip
    for body in bodies:
        made = client.post("/users", json={**body, "password": None}, headers=admin.auth)
        assert made.status_code == 201, made.text
        ids[body["username"]] = made.json()["id"]
    return ids


def test_people_by_id_and_resolve_name_people_by_what_they_use(
    client: TestClient, config: ClusterConfig, admin: Account
) -> None:
    ids = make_users(client, admin)
    caller = ToLogin(client, config)
    ctx = ctx_of(caller)
    found = asyncio.run(people_by_id(ctx, [ids["ann"], ids["ada"], 99_999, ids["ann"]]))
    assert set(found) == {ids["ann"], ids["ada"]}
    assert found[ids["ann"]] == Person(ids["ann"], "ann", "student", "Ann Lee", "ann@uni.example", "S1234567", "2025")
    assert found[ids["ada"]].student_number is None
    assert found[ids["ada"]].role == "teacher"
    assert len(caller.calls) == 1

    refs: list[str | int] = ["S1234567", "ada", ids["bob"], str(ids["ann"]), "7654321", "nobody", 99_999]
    named = asyncio.run(resolve(ctx, refs))
    assert {ref: p.username for ref, p in named.items()} == {
        "S1234567": "ann",
        "ada": "ada",
        ids["bob"]: "bob",
        str(ids["ann"]): "ann",  # digits that are no student number: an id (a CSV id column)
        "7654321": "bob",  # digits that are a student number: that student
    }
    students = asyncio.run(resolve(ctx, ["S1234567", "ada", "admin"], role="student"))
    assert list(students) == ["S1234567"]
    teachers = asyncio.run(resolve(ctx, ["ada", "S1234567"], role="teacher"))
    assert [p.id for p in teachers.values()] == [ids["ada"]]
    assert asyncio.run(resolve(ctx, [])) == {}
    assert asyncio.run(people_by_id(ctx, [])) == {}


def test_large_lookups_go_in_bounded_batches(client: TestClient, config: ClusterConfig, admin: Account) -> None:
    ids = make_users(client, admin)
    caller = ToLogin(client, config)
    wanted = [*range(100_000, 100_000 + BATCH + 5), ids["ada"]]
    found = asyncio.run(people_by_id(ctx_of(caller), wanted))
    assert list(found) == [ids["ada"]]
    assert [len(c["ids"]) for c in caller.calls] == [BATCH, 6]
    # The route itself refuses more than a batch, and answers internal callers only.
    too_many = client.post(
        "/internal/people", json={"ids": list(range(1, BATCH + 2))}, headers={HEADER: caller.tokens.mint()}
    )
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "ids"
    assert client.post("/internal/people", json={"ids": [1]}).status_code == 401
    assert client.post("/internal/people", json={"ids": [1]}, headers=admin.auth).status_code == 401


def test_no_login_master_is_a_503_to_retry(client: TestClient, config: ClusterConfig) -> None:
    for fault in (NoMasterError("login has no master right now"), httpx.ConnectError("refused")):
        with pytest.raises(DependencyUnavailable) as raised:
            asyncio.run(people_by_id(ctx_of(ToLogin(client, config, fail=fault)), [1]))
        assert raised.value.headers == {"Retry-After": "1"}
