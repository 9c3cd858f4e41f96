"""Cluster configurations for drills: free loopback ports, or fixed ports on namespace addresses."""

from __future__ import annotations

import random
import socket
from collections.abc import Mapping
from pathlib import Path

# Below the kernel's ephemeral range (32768-60999 here): a port picked by binding port 0
# can be taken by an outgoing connection (a Raft peer, an HTTP client) before the node
# under test binds it. Ports from this range are only ever taken by a bind.
_PORT_RANGE = (20000, 32000)
HTTP_PORT, RAFT_PORT = 8000, 9000  # inside a node's own network namespace nothing else binds


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that are free now, outside the ephemeral range."""
    found: list[int] = []
    while len(found) < count:
        port = random.randrange(*_PORT_RANGE)
        if port in found:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
    return found


def node_ids(counts: Mapping[str, int]) -> list[str]:
    return [f"{service}-{n}" for service, how_many in counts.items() for n in range(1, how_many + 1)]


def cluster_toml(
    data_dir: Path,
    counts: Mapping[str, int],
    redis_url: str = "",
    extra: str = "",
    hosts: Mapping[str, str] | None = None,
) -> tuple[str, dict[str, int]]:
    """A configuration; returns its text and node id -> HTTP port.

    Without `hosts`, every node is on 127.0.0.1 on free ports. With `hosts` (node id ->
    an address in the node's own network namespace), every node uses the same fixed ports
    on its own address, and all name one host: the namespaces share this machine's files."""
    ids = node_ids(counts)
    ports = free_ports(2 * len(ids) + 1)
    lines = [
        "[cluster]",
        f'data_dir = "{data_dir}"',
        "[redis]",
        f'url = "{redis_url}"',
        f"private_port = {ports[-1]}",
        "[http]",
        'log_level = "warning"',
        extra,
    ]
    http_ports = {}
    for i, node_id in enumerate(ids):
        host = hosts[node_id] if hosts else "127.0.0.1"
        http, raft = (HTTP_PORT, RAFT_PORT) if hosts else (ports[i], ports[len(ids) + i])
        http_ports[node_id] = http
        lines += [
            "[[nodes]]",
            f'id = "{node_id}"',
            f'service = "{node_id.rpartition("-")[0]}"',
            f'http = "{host}:{http}"',
            f'raft = "{host}:{raft}"',
        ]
        if hosts:  # namespaces of one machine, one filesystem: SQLite and one Redis serve them all
            lines.append('host = "lab"')
    return "\n".join(lines) + "\n", http_ports
