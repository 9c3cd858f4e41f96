"""Sessions ended while Raft has no quorum: the API answers for what it committed (never a 500),
and the revocation reaches every node within a second of the quorum coming back."""

from __future__ import annotations

import time

import httpx
import pytest

from ops.localcluster import LocalCluster, wait_for
from tests.cluster.conftest import MakeCluster

pytestmark = pytest.mark.cluster

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a different horse entirely"


def _login(url: str, password: str) -> dict[str, str]:
    answer = httpx.post(f"{url}/auth/login", json={"username": "admin", "password": password}, timeout=10)
    assert answer.status_code == 200, answer.text
    tokens: dict[str, str] = answer.json()
    return tokens


def _bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def _refused_by(
    cluster: LocalCluster, nodes: list[str], tokens: list[dict[str, str]], within: float
) -> dict[str, float]:
    """For each node, how long after it was back in a quorum (a leader, a majority connected) a
    probe sent to it found every token refused; fails the test unless that is within `within`
    seconds, on every node."""
    back: dict[str, float] = {}
    seen: dict[str, float] = {}
    while len(seen) < len(nodes):
        for node in (n for n in nodes if n not in seen):
            if node not in back:
                if _quorum(cluster, node):
                    back[node] = time.monotonic()
                continue
            sent = time.monotonic()
            assert sent - back[node] <= within, f"{node} still accepts an ended session's token; so far: {seen}"
            answers = [httpx.get(f"{cluster.url(node)}/cluster/status", headers=a, timeout=5) for a in tokens]
            if all(a.status_code == 401 for a in answers):
                seen[node] = sent - back[node]
    return seen


def _quorum(cluster: LocalCluster, node: str) -> bool:
    """The node sees a Raft leader and a majority connected."""
    try:
        raft = cluster.status(node)["raft"]
    except httpx.HTTPError:
        return False
    return bool(raft["has_quorum"] and raft["leader"])


def test_sessions_ended_without_quorum_are_revoked_everywhere_once_it_returns(make_cluster: MakeCluster) -> None:
    # A long lease: the login master keeps acting (and committing) while Raft has no quorum.
    cluster = make_cluster({"login": 1, "course_data": 2}, extra="[raft]\nlease_seconds = 60")
    cluster.start_serving("login")
    nodes = ["login-1", "course_data-1", "course_data-2"]
    login = cluster.url("login-1")
    first = _login(login, "admin123")
    changed = httpx.post(
        f"{login}/auth/password",
        json={"old_password": "admin123", "new_password": PASSWORD},
        headers=_bearer(first),
        timeout=10,
    )
    assert changed.status_code == 200, changed.text
    to_log_out, to_end, changing = _login(login, PASSWORD), _login(login, PASSWORD), _login(login, PASSWORD)
    ending = [_bearer(t) for t in (to_log_out, to_end, changing)]
    for node in nodes:
        for auth in ending:
            assert httpx.get(f"{cluster.url(node)}/cluster/status", headers=auth).status_code == 200

    agents = {node: cluster.freeze(node) for node in ("course_data-1", "course_data-2")}  # two of three: no quorum
    try:
        wait_for(lambda: not _quorum(cluster, "login-1"), 20, "Raft without quorum")
        logout = httpx.post(f"{login}/auth/logout", headers=_bearer(to_log_out), timeout=10)
        assert logout.status_code == 204, logout.text  # committed: answered as such, not a 500
        password = httpx.post(
            f"{login}/auth/password",
            json={"old_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=_bearer(changing),
            timeout=10,
        )
        assert password.status_code == 200, password.text  # ... with the new tokens
        assert not _quorum(cluster, "login-1")  # (all of it while there was no quorum)
    finally:
        for node, agent in agents.items():
            cluster.thaw(node, agent)
    resumed = time.monotonic()
    wait_for(lambda: _quorum(cluster, "login-1"), 30, "the quorum back")
    print(f"quorum seen back {1000 * (time.monotonic() - resumed):.0f} ms after the resume")
    # Within a second of each node's return, plus one PySyncObj reconnection period: a node that was
    # stopped reports the quorum from its stale view at once, and is reconnected by then at the latest.
    reconnect = cluster.config.raft.connection_retry_seconds
    seen = _refused_by(cluster, nodes, ending, within=1.0 + reconnect)
    print("refused", {n: f"{1000 * t:.0f} ms" for n, t in seen.items()}, "after each node was back in the quorum")
    fresh = _bearer(password.json())
    for node in nodes:
        assert httpx.get(f"{cluster.url(node)}/cluster/status", headers=fresh).status_code == 200
    assert _login(login, NEW_PASSWORD)
