from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cluster.config import SERVICES, ClusterConfig
from services import app_factory
from tests.support import make_config


@pytest.fixture
def config(tmp_path: Path, redis_url: str) -> ClusterConfig:
    return make_config(tmp_path, redis_url=redis_url, CS_HTTP__MAX_BODY_BYTES="1024")


@pytest.fixture(params=SERVICES)
def client(request: pytest.FixtureRequest, config: ClusterConfig) -> Iterator[TestClient]:
    node = config.nodes_of(request.param)[0]
    with TestClient(app_factory(node.service)(config, node), raise_server_exceptions=False) as test_client:
        yield test_client
