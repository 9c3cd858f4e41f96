"""One node's part in the cluster: Raft group, membership, master role, internal calls."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from cluster.config import ClusterConfig, NodeConfig
from cluster.internal_auth import InternalTokens
from cluster.internal_client import InternalClient
from cluster.master import MasterRole
from cluster.membership import MembershipAgent
from cluster.model import Member
from cluster.raft import RaftGroup
from cluster.secrets import load_or_create_secret
from cluster.settings import SecretBox, Settings
from cluster.status import cluster_status


class NotReadyError(Exception):
    pass


class ClusterNode:
    def __init__(self, config: ClusterConfig, node: NodeConfig, version: str) -> None:
        self.config = config
        self.node = node
        secret = load_or_create_secret(config.data_dir, "cluster", config.secret("cluster"))
        partners = [str(n.raft) for n in config.nodes if n.id != node.id]
        self.raft = RaftGroup(
            str(node.raft), partners, config.data_dir, node.id, secret, config.raft, bind=str(node.raft_listen)
        )
        self.master = MasterRole(self.raft, node.service, node.id, config.raft)
        me = Member(node.id, node.service, node.url, str(node.raft), version, time.time(), 0.0)
        self.membership = MembershipAgent(self.raft, me, config.raft.heartbeat_seconds)
        self.tokens = InternalTokens(secret, node.id)
        self.secret_box = SecretBox(secret)  # the secret settings are sealed in the replicated state
        self.client = InternalClient(lambda: self.raft.model, self.tokens, node.id)
        self._tasks: list[asyncio.Task[None]] = []
        self._settings: tuple[int, Settings] = (-1, Settings())

    def settings(self) -> Settings:
        """The cluster-wide settings as this node's replica has them (parsed once per version)."""
        version, parsed = self._settings
        model = self.raft.model
        if version != model.settings_version:
            parsed = Settings.model_validate(self.secret_box.open_settings(model.settings))
            self._settings = (model.settings_version, parsed)
        return parsed

    async def start(self) -> None:
        self.raft.start()
        self._tasks = [
            asyncio.create_task(self.membership.run(), name="membership"),
            asyncio.create_task(self.master.run(), name="master"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.master.release()
        await self.client.aclose()
        await self.raft.close()

    async def check_ready(self) -> None:
        status = self.raft.status()
        if status.leader is None or not status.has_quorum:
            raise NotReadyError(f"raft has no leader with quorum (state {status.state}, term {status.term})")
        if not self.membership.registered.is_set():
            raise NotReadyError("not yet registered in the membership")

    def status(self) -> dict[str, Any]:
        me = {
            "id": self.node.id,
            "service": self.node.service,
            "is_master": self.master.is_master(),
            "epoch": self.master.epoch,
        }
        return cluster_status(
            me, self.raft.status(), self.raft.model, time.time(), self.config.raft.member_down_after_seconds
        )
