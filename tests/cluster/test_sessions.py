"""Tokens issued by the login service, verified and revoked on other services' nodes."""

from __future__ import annotations

import time

import httpx
import pytest

from ops.localcluster import wait_for
from tests.cluster.conftest import MakeCluster

pytestmark = pytest.mark.cluster


def test_every_node_verifies_login_tokens_and_refuses_them_once_the_session_ends(make_cluster: MakeCluster) -> None:
    cluster = make_cluster({"login": 1, "course_data": 2})
    cluster.start()
    cluster.wait_ready()
    login = cluster.url("login-1")
    wait_for(lambda: cluster.master("login", "login-1"), 20, "a login master")
    first = httpx.post(f"{login}/auth/login", json={"username": "admin", "password": "admin123"}).json()
    changed = httpx.post(
        f"{login}/auth/password",
        json={"old_password": "admin123", "new_password": "correct horse battery staple"},
        headers={"Authorization": f"Bearer {first['access_token']}"},
    )
    assert changed.status_code == 200, changed.text
    auth = {"Authorization": f"Bearer {changed.json()['access_token']}"}
    others = [cluster.url(n) for n in ("course_data-1", "course_data-2")]
    for url in others:  # keys fetched from the login node, the token checked locally
        assert httpx.get(f"{url}/cluster/status", headers=auth).status_code == 200
    old = {"Authorization": f"Bearer {first['access_token']}"}
    for url in others:  # the session ended by the password change is refused there too
        assert httpx.get(f"{url}/cluster/status", headers=old).status_code == 401

    assert httpx.post(f"{login}/auth/logout", headers=auth).status_code == 204
    ended = time.perf_counter()
    for url in others:
        wait_for(lambda u=url: httpx.get(f"{u}/cluster/status", headers=auth).status_code == 401, 5, f"{url} refuses")
    print(f"revocation effective on every node {1000 * (time.perf_counter() - ended):.0f} ms after logout returned")
