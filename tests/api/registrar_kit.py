"""An in-process course_data node whose tokens are signed with a test key."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import OKPKey
from starlette.testclient import TestClient

from cluster.config import ClusterConfig
from cluster.internal_auth import HEADER, InternalTokens
from cluster.secrets import load_or_create_secret
from services.common.app import build_app
from services.common.context import NodeContext
from tests.api.login_kit import forge
from tests.databases import new_database
from tests.support import make_config, wait_master, wait_until


@dataclasses.dataclass
class Node:
    client: TestClient
    config: ClusterConfig
    key: OKPKey

    def auth(self, role: str, user_id: int = 1, **claims: Any) -> dict[str, str]:
        signed = forge(self.key, sub=str(user_id), role=role, sid=secrets.token_hex(4), **claims)
        return {"Authorization": f"Bearer {signed}"}

    def internal(self) -> dict[str, str]:
        secret = load_or_create_secret(self.config.data_dir, "cluster")
        return {HEADER: InternalTokens(secret, "tests").mint()}


@contextmanager
def service_node(name: str, tmp_path: Path, redis_url: str, **env: str) -> Iterator[Node]:
    key = OKPKey.generate_key("Ed25519", parameters={"kid": "tests"})

    def keys(ctx: NodeContext) -> Any:
        async def fetch() -> dict[str, Any]:
            return {"keys": [key.as_dict(private=False)]}

        return fetch

    spec = dataclasses.replace(importlib.import_module(f"services.{name}.app").SPEC, local_jwks=keys)
    config = make_config(tmp_path, redis_url=redis_url, services=(name,), **env)
    with TestClient(build_app(spec, config, config.nodes[0]), raise_server_exceptions=False) as client:
        wait_master(client, config)
        yield Node(client, config, key)


def job_outcome(client: TestClient, answer: Any, headers: dict[str, str], timeout: float = 60) -> dict[str, Any]:
    """The finished job an import's 202 answer points to (waiting until it has finished)."""
    assert answer.status_code == 202, answer.text
    url = answer.headers["location"]
    assert answer.json()["url"] == url

    def finished() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(url, headers=headers).json()
        return job if job["status"] in ("succeeded", "failed") else None

    return wait_until(finished, timeout, f"import job {url} to finish")


@contextmanager
def course_data_on(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> Iterator[Node]:
    """A course_data node on the database `request.param` names ("sqlite": its own file; another
    kind: a new database on the suite's server), for fixtures parametrized over kinds."""
    env = {}
    if request.param != "sqlite":
        env["CS_SERVICES__COURSE_DATA__DATABASE_URL"] = asyncio.run(new_database(request, request.param, tmp_path))
    with service_node("course_data", tmp_path, redis_url, **env) as made:
        yield made
