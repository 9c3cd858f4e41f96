"""The import jobs on PostgreSQL (the other import tests use SQLite)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from ops.dbservers import create_database
from services import app_factory
from tests.api.login_kit import default_account
from tests.api.registrar_kit import Node, job_outcome, service_node
from tests.support import make_config, wait_master


async def _create(dsn: str, name: str) -> None:
    await create_database("postgresql", dsn, Path("."), name)


@pytest.fixture
def node(tmp_path: Path, redis_url: str, postgres_dsn: str) -> Iterator[Node]:
    name = f"imports_{secrets.token_hex(4)}"
    asyncio.run(_create(postgres_dsn, name))
    env = {"CS_SERVICES__COURSE_DATA__DATABASE_URL": f"{postgres_dsn}/{name}"}
    with service_node("course_data", tmp_path, redis_url, **env) as made:
        yield made


def test_imports_write_all_rows_on_postgresql(node: Node) -> None:
    admin = node.auth("admin")

    def upload(path: str, body: str) -> dict[str, Any]:
        answer = node.client.post(path, content=body, headers={**admin, "content-type": "text/csv"})
        return job_outcome(node.client, answer, admin)

    rows = "".join(f"P{i:04d},Course {i},3,30,Mon 09:00-10:00,{f'P{i - 1:04d}' if i else ''}\n" for i in range(1200))
    created = upload("/courses/import", "code,title,credits,capacity,meetings,prerequisites\n" + rows)
    assert created["status"] == "succeeded", created
    assert len(created["result"]["ids"]) == 1200
    one = node.client.get(f"/courses/{created['result']['ids']['P0007']}", headers=admin).json()
    assert (one["prerequisites"], one["meetings"][0]["start"]) == (["P0006"], "09:00")
    again = upload("/courses/import", "code,title,credits,capacity\nP0001,Again,3,30\n")
    assert [(e["line"], e["field"]) for e in again["errors"]] == [(2, "code")]
    node.client.post("/students/9/completed", json={"course_codes": ["P0003"]}, headers=admin)
    pairs = "".join(f"{9 + i % 3},P{i:04d}\n" for i in range(1500))
    recorded = upload("/completed/import", "student_id,course_code\n" + pairs)
    assert recorded["result"] == {"recorded": 1500}  # (9, P0003) was recorded already: kept once
    codes = node.client.get("/students/9/completed", headers=admin).json()["course_codes"]
    assert len(codes) == 500


def test_the_users_import_on_postgresql(tmp_path: Path, redis_url: str, postgres_dsn: str) -> None:
    name = f"imports_{secrets.token_hex(4)}"
    asyncio.run(_create(postgres_dsn, name))
    config = make_config(
        tmp_path, redis_url=redis_url, services=("login",), CS_SERVICES__LOGIN__DATABASE_URL=f"{postgres_dsn}/{name}"
    )
    with TestClient(app_factory("login")(config, config.nodes[0]), raise_server_exceptions=False) as client:
        wait_master(client, config)
        admin = default_account(client, "admin")
        rows = "".join(f"u{i:04d},student,S{i:04d}\n" for i in range(700))
        answer = client.post(
            "/users/import",
            content="username,role,student_number\n" + rows,
            headers={**admin.auth, "content-type": "text/csv"},
        )
        job = job_outcome(client, answer, admin.auth)
        assert job["status"] == "succeeded", job
        assert (job["result"]["created"], job["result"]["set_password_tokens_sent"]) == (700, 700)
        assert client.get("/users?q=u0&page_size=1", headers=admin.auth).json()["total"] == 700
        again = client.post(
            "/users/import",
            content="username,role,student_number\nu0001,student,\nnew1,student,S0002\n",
            headers={**admin.auth, "content-type": "text/csv"},
        )
        errors = job_outcome(client, again, admin.auth)["errors"]
        assert [(e["line"], e["field"]) for e in errors] == [(2, "username"), (3, "student_number")]
