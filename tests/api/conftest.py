from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from cluster.config import SERVICES
from services import app_factory
from tests.support import make_config, wait_until


@pytest.fixture(scope="module", params=SERVICES)
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[TestClient]:
    """One node of each service, alone in its Raft group (so it has quorum), lifespan running.

    One per module and service (a node costs seconds to start): the tests that share it change
    nothing another one reads, and count only what they did themselves."""
    tmp_path = tmp_path_factory.mktemp(request.param)
    config = make_config(tmp_path, redis_url=redis_url, services=(request.param,), CS_HTTP__MAX_BODY_BYTES="1024")
    node = config.nodes[0]
    with TestClient(app_factory(node.service)(config, node), raise_server_exceptions=False) as test_client:
        wait_until(lambda: test_client.get("/ready").status_code == 200, 20, f"{node.id} ready")
        yield test_client
