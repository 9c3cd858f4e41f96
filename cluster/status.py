"""The operator's view of the cluster, as served by `GET /cluster/status`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from cluster.config import SERVICES
from cluster.model import ClusterModel
from cluster.raft import RaftStatus


def cluster_status(
    node: dict[str, Any], raft: RaftStatus, model: ClusterModel, now: float, down_after: float
) -> dict[str, Any]:
    """`node` is this node's own view: id, service, whether it acts as master, its epoch."""
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
    }
