"""The replicated state machine's commands, applied identically by the agent and the app.

The Raft agent applies each committed command to its ClusterModel and streams it, with
its sequence number, to the app, which applies the same command to its read replica with
the same function (`apply_command`). `applied` counts the state-machine commands applied
since the cluster began; it is part of the replicated state (included in PySyncObj's
snapshots), so "the state after command n" is the same on every node. Every
`CHECKPOINT_EVERY` commands each side records a digest of the canonical dump of its
model: comparing the digests at the same n across nodes, and between a node's agent and
its app, proves the replicas identical (`GET /cluster/state`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from typing import Any

from cluster.model import ClusterModel, Member

log = logging.getLogger("course_selection.replica")

COMMANDS = frozenset({"register", "heartbeat", "forget", "acquire", "release", "update_settings", "revoke_sessions"})
CHECKPOINT_EVERY = 16
CHECKPOINTS_KEPT = 64


def apply_command(model: ClusterModel, name: str, args: tuple[Any, ...]) -> Any:
    """Apply one replicated command; the one definition of what each command does."""
    if name not in COMMANDS:
        raise ValueError(f"not a replicated command: {name}")
    if name == "register":
        model.register(Member(**args[0]))
        return None
    return getattr(model, name)(*args)


def canonical(model: ClusterModel) -> dict[str, Any]:
    """The model as plain, key-sorted data: what two replicas must agree on."""
    return {
        "members": {k: asdict(v) for k, v in sorted(model.members.items())},
        "leases": {k: asdict(v) for k, v in sorted(model.leases.items())},
        "epochs": dict(sorted(model.epochs.items())),
        "settings": model.settings,
        "settings_version": model.settings_version,
        "settings_audit": model.settings_audit,
        "revoked_sessions": dict(sorted(model.revoked_sessions.items())),
    }


def digest(model: ClusterModel) -> str:
    text = json.dumps(canonical(model), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class Checkpoints:
    """Digests of the model after every CHECKPOINT_EVERY-th command (the last few kept)."""

    def __init__(self) -> None:
        self.digests: dict[int, str] = {}

    def record(self, applied: int, model: ClusterModel, force: bool = False) -> None:
        if force or applied % CHECKPOINT_EVERY == 0:
            self.digests[applied] = digest(model)
            for old in sorted(self.digests)[:-CHECKPOINTS_KEPT]:
                del self.digests[old]


class Replica:
    """The app's read replica: a snapshot, then every applied command in order.

    The model object is never replaced (a snapshot is copied into it), so a bound method
    such as `model.session_revoked` taken at startup keeps reading the current state.
    """

    def __init__(self) -> None:
        self.model = ClusterModel()
        self.applied = 0
        self.checkpoints = Checkpoints()
        self.snapshots = 0

    def load(self, applied: int, model: ClusterModel) -> None:
        self.model.__dict__.update(model.__dict__)
        self.applied = applied
        self.snapshots += 1
        self.checkpoints.record(applied, self.model, force=True)

    def apply(self, applied: int, name: str, args: tuple[Any, ...]) -> None:
        if applied <= self.applied:
            return  # already in a snapshot sent after this command was queued
        if applied != self.applied + 1:
            log.error("replica missed commands", extra={"have": self.applied, "got": applied})
        apply_command(self.model, name, args)
        self.applied = applied
        self.checkpoints.record(applied, self.model)
