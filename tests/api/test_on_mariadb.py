"""Every service on MariaDB: migrated at start, ready, and its master's fenced write commits.

(course_data's and login's API tests run on MariaDB too; the other services keep only the
tables every service has.)
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cluster.config import SERVICES
from cluster.internal_auth import HEADER, InternalTokens
from cluster.secrets import load_or_create_secret
from services import app_factory
from tests.databases import new_database
from tests.support import make_config, wait_master


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_runs_on_mariadb(
    request: pytest.FixtureRequest, tmp_path: Path, redis_url: str, service: str
) -> None:
    url = asyncio.run(new_database(request, "mariadb", tmp_path))
    config = make_config(
        tmp_path, redis_url=redis_url, services=(service,), **{f"CS_SERVICES__{service.upper()}__DATABASE_URL": url}
    )
    node = config.nodes[0]
    with TestClient(app_factory(service)(config, node), raise_server_exceptions=False) as client:
        wait_master(client, config)
        assert client.get("/ready").json()["checks"]["database"] == "ok"
        token = InternalTokens(load_or_create_secret(config.data_dir, "cluster"), "tests").mint()
        written = [client.post("/cluster/write-check", headers={HEADER: token}) for _ in range(2)]
    assert [w.status_code for w in written] == [200, 200], written[-1].text
    assert written[1].json()["id"] == written[0].json()["id"] + 1
    assert config.database_url(service) == url
