"""Helpers for the login service's API tests: accounts in known states, forged tokens."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.jwk import OKPKey
from starlette.testclient import TestClient

STRONG = "correct horse battery staple"


@dataclass
class Account:
    id: int
    username: str
    password: str
    token: str
    refresh: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def log_in(
    client: TestClient, username: str, password: str, headers: dict[str, str] | None = None, **extra: Any
) -> Any:
    return client.post("/auth/login", json={"username": username, "password": password, **extra}, headers=headers)


def default_account(client: TestClient, username: str, new_password: str = STRONG) -> Account:
    """A seed account (admin or super_admin) after its forced password change."""
    first = log_in(client, username, {"admin": "admin123", "super_admin": "super123"}[username]).json()
    old = {"admin": "admin123", "super_admin": "super123"}[username]
    changed = client.post(
        "/auth/password",
        json={"old_password": old, "new_password": new_password},
        headers={"Authorization": f"Bearer {first['access_token']}"},
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    return Account(me["id"], username, new_password, body["access_token"], body["refresh_token"])


def new_account(client: TestClient, admin: Account, username: str, role: str, password: str = STRONG) -> Account:
    created = client.post(
        "/users",
        json={"username": username, "role": role, "password": password, "must_change_password": False},
        headers=admin.auth,
    )
    assert created.status_code == 201, created.text
    body = log_in(client, username, password).json()
    return Account(created.json()["id"], username, password, body["access_token"], body["refresh_token"])


def forge(key: OKPKey, header: dict[str, Any] | None = None, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": "course-selection-login",
        "aud": "course-selection",
        "sub": "1",
        "name": "admin",
        "role": "super_admin",
        "sid": "forged-session",
        "iat": now,
        "exp": now + 600,
        **claims,
    }
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(header or {"alg": "Ed25519", "kid": key.kid}, body, key, algorithms=["Ed25519"])
