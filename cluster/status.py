"""The operator's view of the cluster, as served by `GET /cluster/status`."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from cluster.config import SERVICES
from cluster.model import ClusterModel
from cluster.raft import RaftGroup, RaftStatus


def agent_report(raft: RaftGroup, is_master: bool, lease_seconds: float) -> dict[str, Any]:
    """The Raft agent's figures (`agent` in the status; also the lease metrics)."""
    agent = raft.agent
    return {
        "pid": None if agent is None else agent.pid,
        "status_age_seconds": None if agent is None else round(time.monotonic() - raft.agent_seen, 3),
        "lease_seconds": lease_seconds,
        "is_master": 1 if is_master else 0,
        "renewal": None if agent is None else agent.renewal,
        "app_checkin_gap_max_seconds": None if agent is None else agent.checkin_gap_max,
        "app_busy_seconds": None if agent is None else agent.busy_seconds,
        "raft_truncations": 0 if agent is None else agent.truncations,
        "epochs": dict(raft.model.epochs),
    }


def cluster_status(
    node: dict[str, Any],
    raft: RaftStatus,
    model: ClusterModel,
    now: float,
    down_after: float,
    agent: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`node` is this node's own view: id, service, whether it acts as master, its epoch;
    `agent` its Raft agent's figures (renewal latency: `agent.renewal.p99_seconds`...)."""
    by_address = {m.raft: m.node_id for m in model.members.values()}
    members = [
        {
            "id": m.node_id,
            "service": m.service,
            "url": m.url,
            "raft": m.raft,
            "version": m.version,
            "started_at": m.started_at,
            "last_heartbeat": m.last_heartbeat,
            "seconds_since_heartbeat": round(max(0.0, now - m.last_heartbeat), 3),
            "healthy": m.healthy(now, down_after),
            "raft_connected": True if m.raft == raft.address else raft.partners.get(m.raft, False),
        }
        for m in sorted(model.members.values(), key=lambda m: m.node_id)
    ]
    masters: dict[str, Any] = {}
    for service in SERVICES:
        lease = model.master(service, now)
        masters[service] = (
            None
            if lease is None
            else {"node": lease.holder, "epoch": lease.epoch, "expires_in": round(lease.expires_at - now, 3)}
        )
    return {
        "node": node,
        "raft": {**asdict(raft), "leader_node": by_address.get(raft.leader or "")},
        "members": members,
        "masters": masters,
        "epochs": dict(model.epochs),
        "agent": agent,
    }
