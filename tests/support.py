"""Helpers for tests: free ports, waiting with a deadline, configurations, processes."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil

from cluster.config import SERVICES, ClusterConfig, parse_config
from ops.drill import layout as drill_layout
from ops.drill.layout import free_ports
from ops.localcluster import wait_for
from ops.processes import ProcessKit, clean_environment

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")
# What every node a test starts is given (in-process through `make_config`, as processes through
# `Processes` and the cluster fixture): password hashes at bcrypt cost 4 (~3 ms, not ~250 ms at the
# production default 12). A test that checks the production cost gives `PRODUCTION_COST` on top.
TEST_ENV = {"CS_DEBUG__BCRYPT_ROUNDS": "4"}
PRODUCTION_COST = {"CS_DEBUG__BCRYPT_ROUNDS": "0"}


def free_port() -> int:
    return free_ports(1)[0]


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Call `check` until it returns something truthy; fail the test after `timeout` seconds."""
    try:
        return wait_for(check, timeout, what, interval)
    except TimeoutError as exc:
        raise AssertionError(str(exc)) from None


def cluster_toml(
    data_dir: Path,
    nodes_per_service: int = 1,
    services: tuple[str, ...] = SERVICES,
    redis_url: str = "",
    extra: str = "",
    counts: dict[str, int] | None = None,
) -> tuple[str, dict[str, int]]:
    """A configuration on free loopback ports; returns its text and node id -> HTTP port.

    `counts` (service -> number of nodes) overrides `services` and `nodes_per_service`.
    """
    layout = counts or dict.fromkeys(services, nodes_per_service)
    return drill_layout.cluster_toml(data_dir, layout, redis_url=redis_url, extra=extra)


def make_config(tmp_path: Path, redis_url: str = "", services: tuple[str, ...] = SERVICES, **env: str) -> ClusterConfig:
    """One node of each of `services` on free ports, with `TEST_ENV` under `env`."""
    import tomllib

    text, _ = cluster_toml(tmp_path / "data", services=services, redis_url=redis_url)
    return parse_config(tomllib.loads(text), {**TEST_ENV, **env})


def ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


class Processes(ProcessKit):
    """Processes a test started (`ops/processes.ProcessKit`, the benchmarks' and drills' kit too);
    `stop_all` ends each and every descendant it left. Their environment has `TEST_ENV`."""

    def __init__(self, log_dir: Path, env: Mapping[str, str] | None = None) -> None:
        super().__init__(log_dir, env if env is not None else clean_environment(TEST_ENV))


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@contextlib.contextmanager
def listening(port: int) -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen()
    try:
        yield sock
    finally:
        sock.close()


def wait_master(client: Any, config: ClusterConfig, timeout: float = 20) -> None:
    """Wait until the in-process node behind `client` is ready and master of its service."""
    from cluster.internal_auth import HEADER, InternalTokens
    from cluster.secrets import load_or_create_secret

    node = config.nodes[0]
    token = InternalTokens(load_or_create_secret(config.data_dir, "cluster"), "tests").mint()

    def is_master() -> bool:
        status = client.get("/cluster/status", headers={HEADER: token})
        return status.status_code == 200 and bool(status.json()["node"]["is_master"])

    wait_until(lambda: client.get("/ready").status_code == 200, timeout, f"{node.id} ready")
    wait_until(is_master, timeout, f"{node.id} master")
