"""The users import as a job (one login node in-process, real Redis): every error at once,
all or nothing, ids in the result, and set-password tokens instead of a bcrypt per row."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from cluster.config import ClusterConfig
from services import app_factory
from services.login.passwords import UNUSABLE_PASSWORD
from tests.api.login_kit import STRONG, Account, default_account, log_in
from tests.api.registrar_kit import job_outcome
from tests.support import PRODUCTION_COST, make_config, wait_master


@pytest.fixture
def config(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> ClusterConfig:
    """One login node, hashing at the tests' cost, or at the production one where a test asks."""
    redis.Redis.from_url(redis_url).flushdb()  # throttling state of earlier tests must not leak in
    env = PRODUCTION_COST if getattr(request, "param", "") == "production cost" else {}
    return make_config(tmp_path, redis_url=redis_url, services=("login",), **env)


AT_PRODUCTION_COST = pytest.mark.parametrize("config", ["production cost"], indirect=True)


@pytest.fixture
def client(config: ClusterConfig) -> Iterator[TestClient]:
    node = config.nodes[0]
    with TestClient(app_factory("login")(config, node), raise_server_exceptions=False) as test_client:
        wait_master(test_client, config)
        yield test_client


@pytest.fixture
def admin(client: TestClient) -> Account:
    return default_account(client, "admin")


def upload(client: TestClient, admin: Account, text: str) -> dict[str, Any]:
    answer = client.post("/users/import", content=text, headers={**admin.auth, "content-type": "text/csv"})
    return job_outcome(client, answer, admin.auth)


def token_of(client: TestClient, admin: Account, user_id: int) -> str:
    messages = client.get(f"/notifications?user_id={user_id}", headers=admin.auth).json()["items"]
    [message] = [m for m in messages if m["kind"] == "account-created"]
    found = re.search(r"POST /auth/password/set: (\S+) \.", message["body"])
    assert found, message["body"]
    return found[1]


def test_every_bad_row_is_reported_at_once_and_nothing_is_created(client: TestClient, admin: Account) -> None:
    before = client.get("/users", headers=admin.auth).json()["total"]
    bad = (
        "username,role,full_name,email,cohort,student_number\n"
        "ann,student,Ann,ann@uni.example,2026,S1\n"  # 2: fine on its own
        "x,student,Too Short,,2026,\n"  # 3: username
        "ben,wizard,Ben,,2026,\n"  # 4: role
        "ann,student,Ann Again,,2026,S1\n"  # 5: repeats line 2 (username and student number)
        "cat,admin,Cat,,2026,\n"  # 6: an admin cannot make admins
        "dan,student,Dan,not-an-email,abc,\n"  # 7: email and cohort
        "admin,student,Taken,,2026,\n"  # 8: already exists
    )
    job = upload(client, admin, bad)
    assert job["status"] == "failed"
    assert job["result"] is None
    problems = {(e["line"], e["field"]) for e in job["errors"]}
    assert problems == {
        (3, "username"),
        (4, "role"),
        (5, "username"),
        (5, "student_number"),
        (6, "role"),
        (7, "email"),
        (7, "cohort"),
        (8, "username"),
    }
    assert job["error_count"] == len(job["errors"]) == 8
    assert all(set(e) == {"line", "field", "reason"} for e in job["errors"])
    assert client.get("/users", headers=admin.auth).json()["total"] == before
    # The file of issue 15: a bad role and a name that exists, both in the first answer.
    both = upload(client, admin, "username,role\nwiz,wizard\nadmin,student\n")
    assert [(e["line"], e["field"]) for e in both["errors"]] == [(2, "role"), (3, "username")]


def password_hash(config: ClusterConfig, user_id: int) -> str:
    path = config.database_url("login").removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as db:
        (hashed,) = db.execute("SELECT password_hash FROM users WHERE id = ?", (user_id,)).fetchone()
    return str(hashed)


@AT_PRODUCTION_COST  # (the hash it makes has the default cost, 12)
def test_an_import_answers_ids_and_invites_rows_without_a_password(
    client: TestClient, admin: Account, config: ClusterConfig
) -> None:
    good = (
        "username,role,full_name,email,student_number,password\n"
        "ann,student,Ann,ann@uni.example,S100,\n"
        f"ben,teacher,Ben,ben@uni.example,,{STRONG}\n"
    )
    answer = client.post("/users/import", content=good, headers={**admin.auth, "content-type": "text/csv"})
    assert answer.status_code == 202
    assert answer.json()["status"] == "queued"
    job = job_outcome(client, answer, admin.auth)
    assert job["status"] == "succeeded", job
    assert job["progress"]["phase"] == "done"
    assert job["result"]["created"] == 2
    assert job["result"]["set_password_tokens_sent"] == 1
    ids = job["result"]["ids"]
    assert client.get(f"/users/{ids['ann']}", headers=admin.auth).json()["student_number"] == "S100"
    # ann has no password (no bcrypt was made for her) until she uses her token: nothing signs her in.
    assert password_hash(config, ids["ann"]) == UNUSABLE_PASSWORD
    assert password_hash(config, ids["ben"]).startswith("$2b$12$")
    assert log_in(client, "ann", "").status_code in (401, 422)
    assert log_in(client, "ann", STRONG).status_code == 401
    token = token_of(client, admin, ids["ann"])
    weak = client.post("/auth/password/set", json={"token": token, "new_password": "password"})
    assert weak.status_code == 422
    chosen = client.post("/auth/password/set", json={"token": token, "new_password": STRONG})
    assert chosen.status_code == 200, chosen.text
    assert chosen.json() == {"id": ids["ann"], "username": "ann"}
    assert log_in(client, "ann", STRONG).json()["must_change_password"] is False
    again = client.post("/auth/password/set", json={"token": token, "new_password": STRONG + "!"})
    assert again.status_code == 400
    # ben's password came from the file (an admin chose it): he must change it.
    assert log_in(client, "ben", STRONG).json()["must_change_password"] is True
    # The same file again: both rows are taken, both reported.
    assert {e["line"] for e in upload(client, admin, good)["errors"]} == {2, 3}


def test_an_import_needs_csv_and_an_admin_and_its_job_an_admin(client: TestClient, admin: Account) -> None:
    assert client.post("/users/import", content="username,role\n", headers=admin.auth).status_code == 415
    empty = upload(client, admin, "username,role\n")
    assert [(e["line"], e["reason"]) for e in empty["errors"]] == [(2, "no rows")]
    header = upload(client, admin, "username,colour\n")
    assert [(e["line"], e["field"]) for e in header["errors"]] == [(1, "")]
    assert client.get(empty["url"]).status_code == 401
    assert client.get("/imports/999", headers=admin.auth).status_code == 404


def test_a_super_admins_import_is_read_by_super_admins_only(client: TestClient, admin: Account) -> None:
    root = default_account(client, "super_admin")
    job = upload(client, root, "username,role\nadmin2,admin\n")
    assert job["status"] == "succeeded", job
    assert client.get(job["url"], headers=admin.auth).status_code == 403
    mine = upload(client, admin, "username,role\nstu1,student\n")
    assert client.get(mine["url"], headers=root.auth).status_code == 200


def test_a_bad_row_is_also_checked_for_repeats_and_names_taken(client: TestClient, admin: Account) -> None:
    """Issue 15: a row with a bad field and a username that exists (or repeats an invalid row)
    gets every one of its problems in the first answer, not the rest after a re-upload."""
    job = upload(
        client,
        admin,
        "username,role,student_number\nadmin,wizard,\nwiz,wizard,N1\nwiz,student,N1\nsam,student,N1\n",
    )
    assert {(e["line"], e["field"]) for e in job["errors"]} == {
        (2, "role"),
        (2, "username"),  # admin exists
        (3, "role"),
        (4, "username"),  # repeats line 3
        (4, "student_number"),
        (5, "student_number"),
    }
    assert client.get("/users?q=wiz", headers=admin.auth).json()["total"] == 0


def test_an_import_answers_the_ids_of_its_student_numbers(client: TestClient, admin: Account) -> None:
    job = upload(client, admin, "username,role,student_number\nann,student,S1\nada,teacher,\n")
    assert job["status"] == "succeeded", job
    ids = job["result"]["ids"]
    assert job["result"]["student_numbers"] == {"S1": ids["ann"]}


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_an_import_sets_program_year_and_priority_group_and_tokens_carry_them(
    client: TestClient, admin: Account
) -> None:
    bad = upload(client, admin, "username,role,program,year,priority_group\ncam,student,not a code,0,final year\n")
    assert {(e["line"], e["field"]) for e in bad["errors"]} == {(2, "program"), (2, "year"), (2, "priority_group")}
    job = upload(
        client,
        admin,
        "username,role,cohort,program,year,priority_group,password\n"
        f"fay,student,2023,CS,4,final-year,{STRONG}\n"
        f"gus,student,2025,EE,1,,{STRONG}\n",
    )
    assert job["status"] == "succeeded", job
    fay, gus = job["result"]["ids"]["fay"], job["result"]["ids"]["gus"]
    shown = client.get(f"/users/{fay}", headers=admin.auth).json()
    assert (shown["program"], shown["year"], shown["priority_group"]) == ("CS", 4, "final-year")
    signed_in = log_in(client, "fay", STRONG).json()
    claims = claims_of(signed_in["access_token"])
    assert (claims["cohort"], claims["program"], claims["year"], claims["pg"]) == (2023, "CS", 4, "final-year")
    before = log_in(client, "gus", STRONG).json()["access_token"]
    assert "pg" not in claims_of(before)
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {before}"}).status_code == 200
    # An admin's edit of the priority group changes what tokens say: the user's sessions end.
    moved = client.patch(f"/users/{gus}", json={"priority_group": "final-year", "year": 4}, headers=admin.auth)
    assert moved.status_code == 200, moved.text
    assert (moved.json()["priority_group"], moved.json()["year"]) == ("final-year", 4)
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {before}"}).status_code == 401
    assert claims_of(log_in(client, "gus", STRONG).json()["access_token"])["pg"] == "final-year"
