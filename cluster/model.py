"""The replicated cluster state: membership and one master lease per service.

Every change is a method whose inputs include the time it uses (the proposer's wall
clock), so applying the same log gives the same state on every node: the Raft state
machine must be deterministic. This class knows nothing of Raft; `cluster.raft` applies
its methods through the log, and unit tests use it directly as an in-memory twin.

The lease rules (the reason masters are safe):

- A lease is granted to a node by compare-and-set: only when the service has no lease,
  or its lease has expired by the requester's clock, or the requester already holds it.
- Every new grant for a service carries a larger epoch than every earlier grant for it
  (epochs survive the lease records: `epochs` only grows).
- Renewing an unexpired lease keeps its epoch; re-acquiring an expired one, even by
  the same node, is a new grant with a new epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from cluster.secret_keys import masked_patch  # (not cluster.settings: no pydantic in the Raft agent)

AUDIT_KEPT = 1000


@dataclass(frozen=True)
class Member:
    node_id: str
    service: str
    url: str
    raft: str
    version: str
    started_at: float
    last_heartbeat: float

    def healthy(self, now: float, down_after: float) -> bool:
        return now - self.last_heartbeat <= down_after


@dataclass(frozen=True)
class Lease:
    service: str
    holder: str
    epoch: int
    granted_at: float
    expires_at: float

    def valid(self, now: float) -> bool:
        return now < self.expires_at


@dataclass(frozen=True)
class LeaseResult:
    granted: bool
    lease: Lease | None  # the lease in force after the request


class ClusterModel:
    def __init__(self) -> None:
        self.members: dict[str, Member] = {}
        self.leases: dict[str, Lease] = {}
        self.epochs: dict[str, int] = {}
        self.settings: dict[str, Any] = {}  # validated before it is proposed; {} means defaults
        self.settings_version = 0
        self.settings_audit: list[dict[str, Any]] = []
        self.revoked_sessions: dict[str, float] = {}  # session id -> until when tokens may exist

    # membership

    def register(self, member: Member) -> None:
        self.members[member.node_id] = member

    def heartbeat(self, node_id: str, now: float) -> bool:
        """Refresh a member's heartbeat; False if it is not a member (it must register)."""
        member = self.members.get(node_id)
        if member is None:
            return False
        self.members[node_id] = replace(member, last_heartbeat=max(member.last_heartbeat, now))
        return True

    def forget(self, node_id: str) -> bool:
        """Remove a member (a node removed from the cluster) and release its leases."""
        found = self.members.pop(node_id, None) is not None
        for service, lease in list(self.leases.items()):
            if lease.holder == node_id:
                self.leases[service] = replace(lease, expires_at=lease.granted_at)
        return found

    # master leases

    def acquire(self, service: str, node_id: str, now: float, ttl: float) -> LeaseResult:
        """Take or renew the master lease of `service` for `node_id` (compare-and-set)."""
        current = self.leases.get(service)
        if current is not None and current.valid(now):
            if current.holder != node_id:
                return LeaseResult(False, current)
            renewed = replace(current, expires_at=max(current.expires_at, now + ttl))
            self.leases[service] = renewed
            return LeaseResult(True, renewed)
        epoch = self.epochs.get(service, 0) + 1
        self.epochs[service] = epoch
        granted = Lease(service, node_id, epoch, now, now + ttl)
        self.leases[service] = granted
        return LeaseResult(True, granted)

    def release(self, service: str, node_id: str, epoch: int, now: float) -> bool:
        """End a lease early (a master shutting down), so a successor need not wait."""
        current = self.leases.get(service)
        if current is None or current.holder != node_id or current.epoch != epoch:
            return False
        self.leases[service] = replace(current, expires_at=min(current.expires_at, now))
        return True

    def master(self, service: str, now: float) -> Lease | None:
        """The lease in force for `service` at `now`, if any."""
        lease = self.leases.get(service)
        return lease if lease is not None and lease.valid(now) else None

    # settings

    def update_settings(self, settings: dict[str, Any], actor: str, changes: dict[str, Any], now: float) -> int:
        """Replace the settings (already validated, secrets sealed) and audit who changed what,
        when; the audit keeps a mask for a secret's value, whatever the proposer sent."""
        self.settings = settings
        self.settings_version += 1
        entry = {"version": self.settings_version, "at": now, "by": actor, "changes": masked_patch(changes)}
        # Earlier entries masked again: one recorded before masking existed leaves the state here.
        kept = self.settings_audit[-(AUDIT_KEPT - 1) :]
        self.settings_audit = [{**e, "changes": masked_patch(e["changes"])} for e in kept] + [entry]
        return self.settings_version

    # sessions

    def revoke_sessions(self, session_ids: list[str], until: float, now: float) -> None:
        """Tokens of these sessions are refused everywhere until `until` (their longest life)."""
        self.revoked_sessions = {sid: t for sid, t in self.revoked_sessions.items() if t > now}
        for sid in session_ids:
            self.revoked_sessions[sid] = max(until, self.revoked_sessions.get(sid, 0.0))

    def session_revoked(self, session_id: str, now: float) -> bool:
        return self.revoked_sessions.get(session_id, 0.0) > now
