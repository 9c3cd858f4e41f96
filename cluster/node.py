"""One node's part in the cluster: its Raft agent, master role, internal calls, status."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from cluster.config import ClusterConfig, NodeConfig
from cluster.errors import NotReadyError
from cluster.internal_auth import InternalTokens
from cluster.internal_client import InternalClient
from cluster.lease_metrics import LeaseCollector
from cluster.master import MasterRole
from cluster.model import Member
from cluster.peer_auth import PeerAuthProbe
from cluster.raft import RaftGroup
from cluster.secrets import load_or_create_secret
from cluster.settings import SecretBox, Settings
from cluster.status import agent_report, cluster_status


class ClusterNode:
    def __init__(self, config: ClusterConfig, node: NodeConfig, version: str) -> None:
        self.config = config
        self.node = node
        secret = load_or_create_secret(config.data_dir, "cluster", config.secret("cluster"))
        partners = [str(n.raft) for n in config.nodes if n.id != node.id]
        me = Member(node.id, node.service, node.url, str(node.raft), version, time.time(), 0.0)
        self.raft = RaftGroup(
            str(node.raft),
            partners,
            config.data_dir,
            node.id,
            secret,
            config.raft,
            me,
            config.http.log_level,
            bind=str(node.raft_listen),
        )
        self.master = MasterRole(self.raft, node.service, node.id, config.raft)
        self.raft.on_lease = self.master.on_lease
        self.tokens = InternalTokens(secret, node.id)
        self.secret_box = SecretBox(secret)  # the secret settings are sealed in the replicated state
        self.client = InternalClient(lambda: self.raft.model, self.tokens, node.id)
        self._settings: tuple[int, Settings] = (-1, Settings())
        self.metrics = LeaseCollector(lambda: self.agent_report())
        self.peer_auth = PeerAuthProbe(
            node, [n for n in config.nodes if n.id != node.id], self.tokens, self.raft.status
        )
        self._probing: asyncio.Task[None] | None = None

    def settings(self) -> Settings:
        """The cluster-wide settings as this node's replica has them (parsed once per version)."""
        version, parsed = self._settings
        model = self.raft.model
        if version != model.settings_version:
            parsed = Settings.model_validate(self.secret_box.open_settings(model.settings))
            self._settings = (model.settings_version, parsed)
        return parsed

    async def start(self) -> None:
        """Spawn the Raft agent and wait for the replicated state (call from the main thread)."""
        await self.raft.start()
        self._probing = asyncio.create_task(self.peer_auth.run(), name="peer-auth-probe")

    async def stop(self) -> None:
        self.peer_auth.stop()
        if self._probing is not None:
            self._probing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probing
        await self.master.release()
        await self.client.aclose()
        await self.raft.close()

    async def check_ready(self) -> None:
        status = self.raft.status()
        if status.leader is None or not status.has_quorum:
            refused = self.peer_auth.reason()
            if refused is not None:
                raise NotReadyError(f"raft has no leader with quorum: {refused}")
            raise NotReadyError(f"raft has no leader with quorum (state {status.state}, term {status.term})")
        if self.raft.agent is None or not self.raft.agent.registered:
            raise NotReadyError("not yet registered in the membership")

    def agent_report(self) -> dict[str, Any]:
        return agent_report(self.raft, self.master.is_master(), self.config.raft.lease_seconds)

    def status(self) -> dict[str, Any]:
        me = {
            "id": self.node.id,
            "service": self.node.service,
            "is_master": self.master.is_master(),
            "epoch": self.master.epoch,
        }
        return cluster_status(
            me,
            self.raft.status(),
            self.raft.model,
            time.time(),
            self.config.raft.member_down_after_seconds,
            self.agent_report(),
        ) | {"peer_auth": self.peer_auth.report()}

    def replicated_state(self) -> dict[str, Any]:
        """Digests of the replicated state, the app's replica and its agent's, by command count."""
        replica, agent = self.raft.replica, self.raft.agent
        return {
            "node": self.node.id,
            "applied": replica.applied,
            "checkpoints": {str(k): v for k, v in sorted(replica.checkpoints.digests.items())},
            "agent": None
            if agent is None
            else {
                "applied": agent.applied,
                "checkpoints": {str(k): v for k, v in sorted(agent.checkpoints.items())},
                "truncations": agent.truncations,
            },
        }
