"""The replicated state is the same on every node: after a load with elections (kill -9 of
the Raft leader, a follower's agent paused past the connection timeout), and after a
whole-cluster restart that replays every journal.

Each node's app and agent report digests of the canonical state after every 16th
state-machine command (`GET /cluster/state`); equal counts must give equal digests
everywhere. The test also counts PySyncObj's "truncating already-applied log entries"
(logged at debug by the agents, see `cluster/agent_raft.py`): the states agree whether
it happened or not.
"""

from __future__ import annotations

import os
import signal
import threading

import httpx
import pytest

from ops.localcluster import LocalCluster, wait_for
from tests.cluster.conftest import MakeCluster

pytestmark = pytest.mark.cluster
PASSWORD = "correct horse battery staple"


def states(cluster: LocalCluster) -> dict[str, dict[str, str]]:
    """node/source -> {count: digest}, for the app replica and the agent of every running node."""
    found: dict[str, dict[str, str]] = {}
    for node in cluster.processes:
        body = cluster.request(node, "GET", "/cluster/state").json()
        found[f"{node}/app"] = body["checkpoints"]
        found[f"{node}/agent"] = body["agent"]["checkpoints"]
    return found


def merged(found: dict[str, dict[str, str]], into: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """Fold every digest into `into` (count -> (digest, who)); fail on the first disagreement."""
    for who, checkpoints in found.items():
        for count, value in checkpoints.items():
            seen = into.setdefault(count, (value, who))
            assert seen[0] == value, f"state diverged after command {count}: {seen[1]} != {who}"
    return into


def common_beyond(cluster: LocalCluster, floor: int, history: dict[str, tuple[str, str]]) -> int:
    """Wait until every source has a checkpoint above `floor` in common; return the highest."""

    def check() -> int:
        found = states(cluster)
        merged(found, history)
        shared = set.intersection(*(set(map(int, c)) for c in found.values()))
        return max((n for n in shared if n > floor), default=0)

    count: int = wait_for(check, 60, f"a checkpoint after command {floor} on every node")
    return count


def leader_of(cluster: LocalCluster, via: str) -> str | None:
    raft = cluster.status(via)["raft"]
    node: str | None = raft["leader_node"] if raft["has_quorum"] else None
    return node


def truncations(cluster: LocalCluster) -> int:
    return sum(cluster.status(n)["agent"]["raft_truncations"] for n in cluster.processes)


def test_replicated_state_is_identical_after_elections_and_a_restart(make_cluster: MakeCluster) -> None:
    cluster = make_cluster({"login": 1, "course_data": 2})
    cluster.start()
    cluster.wait_ready()
    login = cluster.url("login-1")
    wait_for(lambda: cluster.master("login", "login-1"), 20, "a login master")
    first = httpx.post(f"{login}/auth/login", json={"username": "admin", "password": "admin123"}).json()
    changed = httpx.post(
        f"{login}/auth/password",
        json={"old_password": "admin123", "new_password": PASSWORD},
        headers={"Authorization": f"Bearer {first['access_token']}"},
    )
    assert changed.status_code == 200, changed.text

    stop = threading.Event()
    logouts = [0]

    def load() -> None:  # every logout is a replicated revocation; errors during elections are expected
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                try:
                    token = client.post(f"{login}/auth/login", json={"username": "admin", "password": PASSWORD})
                    if token.status_code == 200:
                        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
                        if client.post(f"{login}/auth/logout", headers=auth).status_code == 204:
                            logouts[0] += 1
                except httpx.HTTPError:
                    stop.wait(0.1)

    history: dict[str, tuple[str, str]] = {}
    loader = threading.Thread(target=load)
    loader.start()
    try:
        for victim_kind in ("leader", "follower-agent", "leader"):
            leader = wait_for(lambda: leader_of(cluster, "login-1"), 30, "a Raft leader")
            if victim_kind == "leader":
                victim = leader if leader != "login-1" else "course_data-1"  # keep the load's target up
                cluster.kill(victim)
                wait_for(
                    lambda v=victim: (n := leader_of(cluster, "login-1")) is not None and n != v,
                    30,
                    "a leader among the survivors",
                )
                cluster.start(victim)
                cluster.wait_ready(victim)
            else:  # a follower's agent misses the leader for longer than the connection timeout
                follower = next(n for n in cluster.processes if n not in (leader, "login-1"))
                pid = cluster.status(follower)["agent"]["pid"]
                os.kill(pid, signal.SIGSTOP)
                stop.wait(2.5)
                os.kill(pid, signal.SIGCONT)
            merged(states(cluster), history)
    finally:
        stop.set()
        loader.join(30)
    assert logouts[0] > 0
    last = common_beyond(cluster, 0, history)
    resent = truncations(cluster)

    for node in list(cluster.processes):
        assert cluster.stop(node) == 0
    cluster.start()
    cluster.wait_ready()
    after = common_beyond(cluster, 0, history)  # replayed from the journals: same digests as before
    assert any(int(n) <= last for n in states(cluster)["login-1/agent"]), "the restart replayed the history"
    print(
        f"{len(history)} checkpoints agree up to command {max(after, last)}; {logouts[0]} logouts; "
        f"{resent} benign truncations of applied entries before the restart"
    )
