"""Serve one node: bind its HTTP port, build its app, run uvicorn until signalled."""

from __future__ import annotations

import errno
import gc
import signal
import socket
import sys
import time
from types import FrameType
from typing import Any

import uvicorn

from cluster.config import ClusterConfig, NodeConfig
from cluster.logs import configure_logging
from services import app_factory

EXIT_CANNOT_START = 2


class PortInUseError(Exception):
    pass


def bind_socket(node: NodeConfig) -> socket.socket:
    listen = node.http_listen
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((listen.host, listen.port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(f"port {listen.port} of node {node.id} is already in use") from None
        raise
    return sock


def check_raft_port(node: NodeConfig, patience: float = 5.0) -> None:
    """The Raft agent binds the port later: find a taken port now, with a clear message.

    A node restarted at once after a kill may find its old agent still exiting (it
    leaves within moments of its app): wait up to `patience` seconds before giving up.
    """
    listen = node.raft_listen
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    deadline = time.monotonic() + patience
    while True:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((listen.host, listen.port))
                return
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                if time.monotonic() > deadline:
                    raise PortInUseError(f"raft port {listen.port} of node {node.id} is already in use") from None
        time.sleep(0.1)


def settle_heap() -> None:
    """What is built at startup (modules, the app) lives as long as the process: move it out of
    the collector's full passes (`gc.freeze`), and collect the youngest generation less often.
    Requests allocate a lot that lives across an await; measured under the rush, this took
    about a quarter off the queue node's CPU per admission."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def proxy_options(config: ClusterConfig) -> dict[str, Any]:
    """uvicorn believes X-Forwarded-For only from `http.trusted_proxies` (by default from
    no one: uvicorn's own default trusts every loopback peer, so any local client could
    name the address it is throttled by)."""
    proxies = list(config.http.trusted_proxies)
    return {"proxy_headers": bool(proxies), "forwarded_allow_ips": proxies or None}


def serve_node(config: ClusterConfig, node: NodeConfig) -> int:
    """Run `node` in this process; return the process exit code."""
    configure_logging(config.http.log_level, node=node.id, service=node.service)
    try:
        check_raft_port(node)
        sock = bind_socket(node)
    except (PortInUseError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_START
    app = app_factory(node.service)(config, node)
    settle_heap()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            access_log=False,
            log_config=None,
            server_header=False,
            timeout_graceful_shutdown=int(config.http.graceful_shutdown_seconds),
            **proxy_options(config),
        )
    )
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the
    # handlers that were installed before it started. Ours accept it, so a node stopped
    # on purpose exits 0 instead of dying by the signal.
    previous = {sig: signal.signal(sig, _stopped_on_purpose) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if server.started else 1


def _stopped_on_purpose(signum: int, frame: FrameType | None) -> None:
    """The signal uvicorn re-raises after it has already shut down gracefully."""
