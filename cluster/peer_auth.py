"""Telling a node that its cluster secret differs from its peers'.

PySyncObj authenticates Raft traffic with the cluster password and, on a message it
cannot decrypt, drops the connection without a word (`tcp_connection.py`): a node
started with another `CS_SECRET_CLUSTER` simply never joins, and its `/ready` could only
say that Raft has no leader. So while a node has no leader with quorum, `PeerAuthProbe`
calls each configured peer's `/cluster/state` with an internal token minted from its
own secret (the same secret keys Raft and internal tokens): a peer that answers 401 or
403 does not accept the secret. That is reported in `/ready` and `/cluster/status`, and
logged once per peer with the key and the fix. A node with quorum does not probe: the
peers of a misconfigured node are not disturbed by it.

At start, what can be known without the peers is refused (`secret_problems`): nodes on
several hosts with no `CS_SECRET_CLUSTER`, where each host would generate its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from cluster.config import ENV_PREFIX, ClusterConfig, NodeConfig, host_of
from cluster.internal_auth import HEADER, InternalTokens
from cluster.raft import RaftStatus

log = logging.getLogger("course_selection.peer_auth")
SECRET_KEY = f"{ENV_PREFIX}SECRET_CLUSTER"
PROBE_SECONDS = 1.0
PROBE_TIMEOUT_SECONDS = 1.0
FIX = f"set the same {SECRET_KEY} on every host (and keep the hosts' clocks within a minute of each other)"


def secret_problems(config: ClusterConfig) -> list[str]:
    """What makes the secret differ across hosts for sure, known before any peer answers."""
    hosts = sorted({host_of(n) for n in config.nodes})
    if len(hosts) > 1 and config.secret("cluster") is None:
        return [
            f"{SECRET_KEY}: the nodes are on hosts {', '.join(hosts)}, but it is not set, so each host would "
            "generate its own secret into data_dir/secrets/cluster and their Raft members could not "
            f"authenticate each other; {FIX}"
        ]
    return []


@dataclass(frozen=True)
class Peer:
    node_id: str
    url: str


class PeerAuthProbe:
    """Which peers refuse this node's internal token, found while it has no quorum."""

    def __init__(
        self,
        me: NodeConfig,
        peers: list[NodeConfig],
        tokens: InternalTokens,
        raft_status: Callable[[], RaftStatus],
        http: httpx.AsyncClient | None = None,
        interval: float = PROBE_SECONDS,
    ) -> None:
        self.me = me
        self.peers = [Peer(n.id, n.url) for n in peers]
        self._tokens = tokens
        self._raft_status = raft_status
        self._http = http or httpx.AsyncClient(timeout=PROBE_TIMEOUT_SECONDS)
        self.interval = interval
        self.refusing: dict[str, int] = {}  # peer node id -> the HTTP status it answered
        self._warned: set[str] = set()
        self._stopping = False
        self.probes = 0

    def stop(self) -> None:
        self._stopping = True

    async def run(self) -> None:
        try:
            while not self._stopping:
                status = self._raft_status()
                if status.leader is None or not status.has_quorum:
                    await self.probe()
                else:
                    self.refusing.clear()
                await asyncio.sleep(self.interval)
        finally:
            await self._http.aclose()

    async def probe(self) -> None:
        """Ask every peer once, at the same time."""
        answers = await asyncio.gather(*(self._ask(peer) for peer in self.peers))
        self.probes += 1
        for peer, code in zip(self.peers, answers, strict=True):
            if code in (401, 403):
                self.refusing[peer.node_id] = code
                if peer.node_id not in self._warned:
                    self._warned.add(peer.node_id)
                    log.warning(
                        f"the cluster secret differs from {peer.node_id}'s: it refuses this node's internal "
                        f"token ({code}), and Raft cannot join; {FIX}",
                        extra={"peer": peer.node_id, "peer_url": peer.url, "key": SECRET_KEY},
                    )
            elif code is not None:
                self.refusing.pop(peer.node_id, None)  # it accepts the secret (or answers something else)

    async def _ask(self, peer: Peer) -> int | None:
        try:
            response = await self._http.get(peer.url + "/cluster/state", headers={HEADER: self._tokens.mint()})
        except httpx.HTTPError:
            return None  # down or unreachable: says nothing about the secret
        return response.status_code

    def reason(self) -> str | None:
        """The readiness reason while some peer refuses the secret, else None."""
        if not self.refusing:
            return None
        names = ", ".join(sorted(self.refusing))
        return f"the cluster secret differs from {names}'s (they refuse this node's internal token): {FIX}"

    def report(self) -> dict[str, object]:
        return {"secret_refused_by": sorted(self.refusing), "reason": self.reason(), "probes": self.probes}
