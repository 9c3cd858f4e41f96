"""Masters, failover, fencing, forwarding and restarts with real node processes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import psutil
import pytest

from cluster.config import SERVICES, load_config
from ops.localcluster import LocalCluster, wait_for
from ops.processes import ROOT
from tests.cluster.conftest import MakeCluster

pytestmark = pytest.mark.cluster
TAKEOVER = 20  # seconds allowed for a new master: leases are 1.5 s, so this is generous


def master_of(cluster: LocalCluster, service: str, via: str) -> tuple[str, int]:
    seen = wait_for(lambda: cluster.master(service, via), TAKEOVER, f"a master of {service}")
    return seen


def acting_masters(cluster: LocalCluster, service: str) -> list[str]:
    nodes = [n.id for n in cluster.config.nodes_of(service)]
    return [n for n in nodes if cluster.status(n)["node"]["is_master"]]


def write_epochs(cluster: LocalCluster, service: str) -> list[tuple[str, int]]:
    with sqlite3.connect(cluster.data_dir / "db" / f"{service}.db") as db:
        return [(r[0], r[1]) for r in db.execute("SELECT node_id, epoch FROM write_checks ORDER BY id")]


def test_every_service_elects_exactly_one_master(make_cluster: MakeCluster) -> None:
    cluster = make_cluster(dict.fromkeys(SERVICES, 2))
    cluster.start()
    cluster.wait_ready(timeout=120)
    for service in SERVICES:
        holder, epoch = master_of(cluster, service, via=f"{service}-1")
        views = {cluster.master(service, via=n.id) for n in cluster.config.nodes}
        assert views == {(holder, epoch)}, (service, views)  # every node agrees
        wait_for(
            lambda s=service, h=holder: acting_masters(cluster, s) == [h], TAKEOVER, f"{service}: one acting master"
        )
    members = cluster.status("login-1")["members"]
    assert sorted(m["id"] for m in members) == sorted(n.id for n in cluster.config.nodes)
    assert all(m["healthy"] for m in members)


def test_kill_9_the_master_and_another_takes_over_then_the_old_one_rejoins(make_cluster: MakeCluster) -> None:
    cluster = make_cluster({"course_data": 2, "login": 1})
    cluster.start()
    cluster.wait_ready()
    old, old_epoch = master_of(cluster, "course_data", via="login-1")
    survivor = next(n.id for n in cluster.config.nodes_of("course_data") if n.id != old)
    forwarded = wait_for(lambda: (r := cluster.write_check(survivor)).status_code == 200 and r.json(), 10, "write")
    assert forwarded["node"] == old  # a slave forwards writes to the master

    cluster.kill(old)
    new, new_epoch = wait_for(
        lambda: (m := cluster.master("course_data", survivor)) and m[0] != old and m, TAKEOVER, "a new master"
    )
    assert (new, new_epoch > old_epoch) == (survivor, True)
    written = wait_for(lambda: (r := cluster.write_check(survivor)).status_code == 200 and r.json(), TAKEOVER, "write")
    assert (written["node"], written["epoch"]) == (survivor, new_epoch)

    cluster.start(old)
    cluster.wait_ready(old)
    assert cluster.status(old)["node"]["is_master"] is False
    assert cluster.master("course_data", via=old) == (survivor, new_epoch)
    via_old = cluster.write_check(old)  # the rejoined node is a slave: it forwards
    assert via_old.status_code == 200
    assert via_old.json()["node"] == survivor
    assert write_epochs(cluster, "course_data")[-1] == (survivor, new_epoch)


def agent_pid(cluster: LocalCluster, node_id: str) -> int:
    pid: int = wait_for(lambda: cluster.status(node_id)["agent"]["pid"], 10, f"the Raft agent of {node_id}")
    return pid


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # reaped by whoever adopted it
    except psutil.NoSuchProcess:
        return True


def test_a_paused_master_is_fenced_and_steps_down(make_cluster: MakeCluster) -> None:
    """The whole node is paused (its app and its Raft agent, as a frozen host): no watchdog
    acts, and the woken master's stale write is refused."""
    cluster = make_cluster({"course_data": 2, "login": 1}, extra="[debug]\nfailpoints = true")
    cluster.start()
    cluster.wait_ready()
    old, old_epoch = master_of(cluster, "course_data", via="login-1")
    other = next(n.id for n in cluster.config.nodes_of("course_data") if n.id != old)
    agent = agent_pid(cluster, old)

    # The old master checks its lease and takes its epoch, then pauses before writing...
    stale: dict[str, httpx.Response] = {}
    writer = threading.Thread(target=lambda: stale.setdefault("r", cluster.write_check(old, pause_ms=1500)))
    writer.start()
    wait_for(lambda: "failpoint: pausing" in cluster.log_text(old), 10, "the write to reach its pause")
    cluster.signal(old, signal.SIGSTOP)  # ...and is stopped for longer than its lease.
    os.kill(agent, signal.SIGSTOP)
    try:
        new, new_epoch = wait_for(
            lambda: (m := cluster.master("course_data", other)) and m[0] != old and m, TAKEOVER, "a new master"
        )
        assert new == other
        assert new_epoch > old_epoch
        written = wait_for(lambda: (r := cluster.write_check(other)).status_code == 200 and r.json(), TAKEOVER, "write")
        assert written["epoch"] == new_epoch
    finally:
        os.kill(agent, signal.SIGCONT)
        cluster.signal(old, signal.SIGCONT)
    writer.join(30)

    refused = stale["r"]
    assert refused.status_code == 503
    assert refused.json()["type"] == "/problems/fenced"
    wait_for(lambda: cluster.status(old)["node"]["is_master"] is False, TAKEOVER, "the old master to step down")
    assert acting_masters(cluster, "course_data") == [other]
    epochs = [epoch for _, epoch in write_epochs(cluster, "course_data")]
    assert old_epoch not in epochs[epochs.index(new_epoch) :]  # nothing of the old epoch after the new one
    # Once its replica has caught up (it may answer 503 no-master with Retry-After until then),
    # the old master forwards writes to the new one.
    via_old = wait_for(lambda: (r := cluster.write_check(old)).status_code == 200 and r.json(), TAKEOVER, "forward")
    assert via_old["node"] == other
    assert cluster.processes[old].poll() is None  # nobody killed it


def test_a_frozen_master_app_is_killed_by_its_agent_and_comes_back_as_a_slave(make_cluster: MakeCluster) -> None:
    """Only the app is frozen (SIGSTOP): its agent stops renewing, a new master writes, and
    once the old lease has surely expired the agent kills its app (it could hold the
    database's write lock). Restarted, the node is a slave."""
    cluster = make_cluster({"course_data": 2, "login": 1})
    cluster.start()
    cluster.wait_ready()
    old, old_epoch = master_of(cluster, "course_data", via="login-1")
    other = next(n.id for n in cluster.config.nodes_of("course_data") if n.id != old)
    agent = agent_pid(cluster, old)
    process = cluster.processes[old]

    cluster.signal(old, signal.SIGSTOP)
    new, new_epoch = wait_for(
        lambda: (m := cluster.master("course_data", other)) and m[0] != old and m, TAKEOVER, "a new master"
    )
    assert (new, new_epoch > old_epoch) == (other, True)
    written = wait_for(lambda: (r := cluster.write_check(other)).status_code == 200 and r.json(), TAKEOVER, "write")
    assert (written["node"], written["epoch"]) == (other, new_epoch)
    wait_for(lambda: process.poll() is not None, TAKEOVER, "the frozen app killed")
    assert process.returncode == -signal.SIGKILL
    wait_for(lambda: gone(agent), 10, "its agent gone with it")
    assert "killing it" in cluster.log_text(old)

    cluster.processes.pop(old)
    cluster.start(old)
    cluster.wait_ready(old)
    assert cluster.status(old)["node"]["is_master"] is False
    holder, epoch = master_of(cluster, "course_data", via=old)
    assert (holder, epoch >= new_epoch) == (other, True)
    assert cluster.write_check(old).json()["node"] == other


def test_internal_endpoints_refuse_calls_without_an_internal_token(make_cluster: MakeCluster) -> None:
    cluster = make_cluster({"course_data": 1})
    cluster.start()
    cluster.wait_ready()
    url = cluster.url("course_data-1")
    for method, path in [("GET", "/cluster/status"), ("POST", "/cluster/write-check"), ("POST", "/cluster/members")]:
        bare = httpx.request(method, url + path)
        assert bare.status_code == 401, path
        assert bare.json()["type"] == "/problems/internal-token-required"
        forged = httpx.request(method, url + path, headers={"X-Internal-Token": "eyJhbGciOiJub25lIn0.e30."})
        assert forged.status_code == 401, path
    assert write_epochs(cluster, "course_data") == []


def test_a_restarted_cluster_keeps_its_replicated_state(make_cluster: MakeCluster) -> None:
    cluster = make_cluster({"course_data": 1, "login": 1, "queue": 1})
    cluster.start()
    cluster.wait_ready()
    epochs_before = {s: master_of(cluster, s, via="login-1")[1] for s in ("course_data", "login", "queue")}
    assert cluster.write_check("course_data-1").status_code == 200
    for node in list(cluster.processes):
        assert cluster.stop(node) == 0
    assert not any(cluster.ready(n.id) for n in cluster.config.nodes)

    cluster.start()
    cluster.wait_ready()
    status = cluster.status("queue-1")
    assert sorted(m["id"] for m in status["members"]) == ["course_data-1", "login-1", "queue-1"]
    for service, before in epochs_before.items():
        _, after = master_of(cluster, service, via="queue-1")
        assert after > before, service  # the epoch counter survived: state came back from the journal
    assert [node for node, _ in write_epochs(cluster, "course_data")] == ["course_data-1"]


def ops_cluster(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops.cluster", *args],
        cwd=ROOT,
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_node_is_added_and_removed_without_restarting_the_others(make_cluster: MakeCluster, tmp_path: Path) -> None:
    cluster = make_cluster({"course_data": 1, "login": 1, "teacher": 1})
    grown = tmp_path / "grown.toml"
    grown.write_text(cluster.config_path.read_text())
    cluster.config_path.write_text(grown.read_text().rsplit("[[nodes]]", 1)[0])  # start without teacher-1
    cluster.config = load_config(cluster.config_path, environ=cluster.env)
    cluster.start()
    cluster.wait_ready()
    teacher = load_config(grown, environ=cluster.env).node("teacher-1")

    added = ops_cluster(cluster, "--config", str(grown), "add", "teacher-1")
    assert added.returncode == 0, added.stderr
    cluster.start("teacher-1", config_path=grown)
    wait_for(lambda: httpx.get(teacher.url + "/ready").status_code == 200, 60, "the new node ready")
    status = wait_for(  # the others connect to the new node on their own retry timers
        lambda: (s := cluster.status("course_data-1"))["raft"]["partners"].get(str(teacher.raft)) is True and s,
        30,
        "course_data-1 connected to the new node",
    )
    assert "teacher-1" in [m["id"] for m in status["members"]]
    assert master_of(cluster, "teacher", via="login-1")[0] == "teacher-1"

    removed = ops_cluster(cluster, "--config", str(grown), "remove", "teacher-1")
    assert removed.returncode == 0, removed.stderr

    def gone_from_login() -> bool:  # login-1 applies the change, and its agent reports it, on its own time
        status = cluster.status("login-1")
        return (
            "teacher-1" not in [m["id"] for m in status["members"]]
            and str(teacher.raft) not in (status["raft"]["partners"])
        )

    wait_for(gone_from_login, 30, "login-1 to see teacher-1 gone from the membership and the Raft group")
    assert cluster.stop("teacher-1") == 0
    assert cluster.write_check("login-1").status_code == 200  # the rest carries on
