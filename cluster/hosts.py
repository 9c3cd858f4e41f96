"""Which configured nodes live on this host.

When the nodes name their hosts (`host = "reg-a"`), a node is local exactly when its
host is this machine's name (`cluster.host`, default: the host name), so one file copied
to every machine starts each machine's own nodes. Without host keys (a single-host
configuration), a node is local when this machine can bind its advertised HTTP address.
"""

from __future__ import annotations

import errno
import socket

from cluster.config import ClusterConfig, NodeConfig


def local_nodes(config: ClusterConfig) -> list[NodeConfig]:
    if any(n.host for n in config.nodes):
        return [n for n in config.nodes if n.host == config.host]
    return [n for n in config.nodes if is_local_host(n.http.host)]


def is_local_host(host: str) -> bool:
    """True when this machine can bind `host`, i.e. the address is one of its own."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as sock:
            try:
                sock.bind((sockaddr[0], 0))
            except OSError as exc:
                if exc.errno == errno.EADDRNOTAVAIL:
                    continue
                raise
            return True
    return False
