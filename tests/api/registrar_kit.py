"""An in-process course_data node whose tokens are signed with a test key."""

from __future__ import annotations

import dataclasses
import importlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from joserfc.jwk import OKPKey
from starlette.testclient import TestClient

from cluster.config import ClusterConfig
from cluster.internal_auth import HEADER, InternalTokens
from cluster.secrets import load_or_create_secret
from services.common.app import build_app
from services.common.context import NodeContext
from tests.api.login_kit import forge
from tests.support import make_config, wait_master


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
