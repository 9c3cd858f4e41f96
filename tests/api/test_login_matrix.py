"""Every endpoint of the login service, for every role: each gets exactly the access it should.

The test enumerates the app's routes, so an endpoint added without an entry here fails it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from cluster.config import ClusterConfig
from services import app_factory
from tests.api.login_kit import default_account, log_in, new_account
from tests.support import make_config, wait_master

PUBLIC, ANY, ADMIN, SUPER, INTERNAL, INTERNAL_OR_ADMIN = "public", "any", "admin", "super", "internal", "int|admin"
# the only endpoints a must-change-password token may use (besides public ones)
RESTRICTED_OK = {
    ("GET", "/auth/me"),
    ("POST", "/auth/password"),
    ("POST", "/auth/logout"),
}

ACCESS = {
    ("GET", "/health"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/.well-known/jwks.json"): PUBLIC,
    ("POST", "/auth/login"): PUBLIC,
    ("POST", "/auth/refresh"): PUBLIC,
    ("POST", "/auth/logout"): ANY,
    ("GET", "/auth/me"): ANY,
    ("POST", "/auth/password"): ANY,
    ("POST", "/auth/password/set"): PUBLIC,
    ("POST", "/auth/otp/setup"): ANY,
    ("POST", "/auth/otp/confirm"): ANY,
    ("DELETE", "/auth/otp"): ANY,
    ("POST", "/auth/keys/rotate"): SUPER,
    ("GET", "/users"): ADMIN,
    ("POST", "/users"): ADMIN,
    ("POST", "/users/import"): ADMIN,
    ("GET", "/imports/{id}"): ADMIN,
    ("GET", "/users/{id}"): ADMIN,
    ("PATCH", "/users/{id}"): ADMIN,
    ("DELETE", "/users/{id}"): ADMIN,
    ("POST", "/users/{id}/password-reset"): ADMIN,
    ("POST", "/users/{id}/sessions/revoke"): ADMIN,
    ("POST", "/users/{id}/unlock"): ADMIN,
    ("DELETE", "/users/{id}/otp"): ADMIN,
    ("GET", "/internal/users/{id}/contact"): INTERNAL,
    ("POST", "/internal/people"): INTERNAL,
    ("GET", "/notifications"): ADMIN,
    ("GET", "/settings"): ADMIN,
    ("PATCH", "/settings"): SUPER,
    ("GET", "/settings/audit"): ADMIN,
    ("GET", "/cluster/status"): INTERNAL_OR_ADMIN,
    ("GET", "/cluster/state"): INTERNAL,
    ("POST", "/cluster/write-check"): INTERNAL,
    ("POST", "/cluster/members"): INTERNAL,
    ("DELETE", "/cluster/members/{node_id}"): INTERNAL,
}
ROLES = ("anonymous", "student", "teacher", "admin", "super_admin", "must_change")


def expected(access: str, role: str, endpoint: tuple[str, str]) -> str:
    """'allowed' (any answer but 401/403), or the refusal status."""
    if access == PUBLIC:
        return "allowed"
    if role == "anonymous":
        return "401"
    if access == INTERNAL:
        return "401"  # an access token is not an internal token
    if role == "must_change":
        return "allowed" if endpoint in RESTRICTED_OK else "403"
    allowed = {
        ANY: {"student", "teacher", "admin", "super_admin"},
        ADMIN: {"admin", "super_admin"},
        INTERNAL_OR_ADMIN: {"admin", "super_admin"},
        SUPER: {"super_admin"},
    }[access]
    return "allowed" if role in allowed else "403"


def routes_of(app: object) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Mount):
            continue  # static assets of /docs
        assert isinstance(route, Route)
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)  # drop converters: {id:int} -> {id}
        found |= {(m, path) for m in route.methods or () if m != "HEAD"}
    return found


@pytest.fixture
def client(tmp_path: Path, redis_url: str) -> Iterator[tuple[TestClient, ClusterConfig]]:
    redis.Redis.from_url(redis_url).flushdb()
    config = make_config(tmp_path, redis_url=redis_url, services=("login",))
    with TestClient(app_factory("login")(config, config.nodes[0]), raise_server_exceptions=False) as test_client:
        wait_master(test_client, config)
        yield test_client, config


def test_every_role_gets_exactly_its_access_on_every_endpoint(client: tuple[TestClient, ClusterConfig]) -> None:
    app_client, _ = client
    assert routes_of(app_client.app) == set(ACCESS), "an endpoint is missing from the matrix (or gone)"
    must_change = log_in(app_client, "admin", "admin123").json()["access_token"]
    root = default_account(app_client, "super_admin")
    tokens = {
        "anonymous": None,
        "super_admin": root.token,
        "student": new_account(app_client, root, "stu", "student").token,
        "teacher": new_account(app_client, root, "tea", "teacher").token,
        "must_change": must_change,
    }
    admin = new_account(app_client, root, "adm", "admin")
    tokens["admin"] = admin.token
    victim = new_account(app_client, root, "victim", "student")

    mismatches = []
    # Logging out ends the caller's session, so it goes last.
    for method, path in sorted(ACCESS, key=lambda e: e == ("POST", "/auth/logout")):
        for role in ROLES:
            token = tokens[role]
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            url = path.replace("{id}", str(victim.id)).replace("{node_id}", "nobody")
            response = app_client.request(method, url, headers=headers, json={})
            got = str(response.status_code) if response.status_code in (401, 403) else "allowed"
            want = expected(ACCESS[(method, path)], role, (method, path))
            if got != want:
                mismatches.append(f"{method} {path} as {role}: {response.status_code}, expected {want}")
    assert not mismatches, "\n".join(mismatches)
