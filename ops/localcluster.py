"""A cluster of real node processes on this host, for benchmarks, fault drills and tests.

The processes are started and stopped by `ops/processes.ProcessKit`, the kit the tests use
for theirs (`tests/support.Processes`).

Each node runs as `run.py --config FILE NODE_ID` in its own process (not under the
supervisor, so a drill decides when a killed node comes back). The kit starts the
private redis-server itself, so no node owns it, and gives every node the same
cluster secret, from which it mints internal tokens to call `/cluster/*`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

from cluster.config import ClusterConfig, load_config
from cluster.internal_auth import HEADER, InternalTokens
from cluster.redis_server import PrivateRedis
from ops.processes import ProcessKit, clean_environment

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float, what: str, interval: float = 0.02) -> T:
    """Poll `check` until it returns something truthy; raise TimeoutError after `timeout`."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            last = check()
            if last:
                return last  # type: ignore[return-value]
        except Exception as exc:  # the condition is "it works": an error means not yet
            last = exc
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


class LocalCluster:
    def __init__(
        self,
        config_path: Path,
        data_dir: Path,
        env: Mapping[str, str] | None = None,
        prefix: Callable[[str], list[str]] | None = None,
    ) -> None:
        """`prefix(node_id)` is put before each node's command (a drill runs it in a network
        namespace with `ip netns exec NS`, which execs it: the pid is still the node's)."""
        self.config_path = config_path
        self.prefix = prefix or (lambda node_id: [])
        self.data_dir = data_dir
        self.env = clean_environment(
            {"CS_CLUSTER__DATA_DIR": str(data_dir), "CS_SECRET_CLUSTER": secrets.token_urlsafe(32), **(env or {})}
        )
        self.config: ClusterConfig = load_config(config_path, environ=self.env)
        self.redis: PrivateRedis | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.logs = data_dir / "logs"
        self.kit = ProcessKit(self.logs, self.env)  # (the same kit as the tests')
        self.tokens = InternalTokens(self.env["CS_SECRET_CLUSTER"], "ops")
        self.http = httpx.Client(timeout=5)

    # processes

    def start(self, *node_ids: str, config_path: Path | None = None) -> None:
        if self.config.redis.private and self.redis is None:
            self.redis = PrivateRedis(self.config.redis.server_binary, self.config.redis.private_port, self.data_dir)
            self.redis.start()
            self.env["CS_REDIS__URL"] = self.redis.url
        for node_id in node_ids or [n.id for n in self.config.nodes]:
            self.processes[node_id] = self.kit.run_py(
                "--config", str(config_path or self.config_path), node_id, name=node_id, prefix=self.prefix(node_id)
            )

    def signal(self, node_id: str, sig: signal.Signals) -> None:
        """Signal the node's app only (its Raft agent goes on, and kills an app frozen past its lease)."""
        os.kill(self.processes[node_id].pid, sig)

    def agent_pid(self, node_id: str) -> int:
        pid: int = wait_for(lambda: self.status(node_id)["agent"]["pid"], 10, f"the Raft agent of {node_id}")
        return pid

    def freeze(self, node_id: str, agent: int | None = None) -> int:
        """SIGSTOP the whole node, app and Raft agent (a frozen host or VM); returns the agent's pid."""
        agent = agent or self.agent_pid(node_id)
        os.kill(agent, signal.SIGSTOP)
        os.kill(self.processes[node_id].pid, signal.SIGSTOP)
        return agent

    def thaw(self, node_id: str, agent: int) -> None:
        for pid in (self.processes[node_id].pid, agent):
            os.kill(pid, signal.SIGCONT)

    def kill(self, node_id: str, agent: int | None = None) -> None:
        """kill -9, and reap it; with `agent`, its Raft agent too (a frozen agent would not
        hear its app die: a stopped process keeps its death signal pending)."""
        process = self.processes.pop(node_id)
        process.kill()
        process.wait(10)
        if agent is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(agent, signal.SIGKILL)

    def stop(self, node_id: str, timeout: float = 20) -> int:
        return self.kit.stop(self.processes.pop(node_id), timeout)

    def stop_all(self) -> None:
        self.kit.stop_all()  # (every node started, and what they started)
        self.processes.clear()
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        self.http.close()

    def log_text(self, node_id: str) -> str:
        return (self.logs / f"{node_id}.log").read_text(errors="replace")  # (every run of the node)

    # HTTP

    def url(self, node_id: str) -> str:
        return self.config.node(node_id).url

    def request(self, node_id: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {HEADER: self.tokens.mint(), **kwargs.pop("headers", {})}
        return self.http.request(method, self.url(node_id) + path, headers=headers, **kwargs)

    def ready(self, node_id: str) -> bool:
        try:
            return self.http.get(self.url(node_id) + "/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, *node_ids: str, timeout: float = 60) -> None:
        for node_id in node_ids or list(self.processes):
            try:
                wait_for(lambda n=node_id: self.ready(n), timeout, f"{node_id} ready", interval=0.1)
            except TimeoutError as exc:
                try:
                    why = self.http.get(self.url(node_id) + "/ready", timeout=1).text
                except httpx.HTTPError as error:
                    why = repr(error)
                tail = self.log_text(node_id)[-3000:]
                raise TimeoutError(f"{exc}\n/ready: {why}\nlog of {node_id}:\n{tail}") from None

    def start_serving(self, *services: str, timeout: float = 30) -> LocalCluster:
        """Start every node; return once all are ready and each of `services` has a master."""
        self.start()
        self.wait_ready()
        via = next(iter(self.processes))
        for service in services:
            wait_for(lambda s=service: self.master(s, via), timeout, f"a {service} master")
        return self

    def status(self, node_id: str) -> dict[str, Any]:
        response = self.request(node_id, "GET", "/cluster/status", timeout=2)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def master(self, service: str, via: str) -> tuple[str, int] | None:
        """(node id, epoch) of the master of `service` as `via` sees it."""
        entry = self.status(via)["masters"][service]
        return (entry["node"], entry["epoch"]) if entry else None

    def write_check(self, node_id: str, **body: Any) -> httpx.Response:
        return self.request(node_id, "POST", "/cluster/write-check", json=body, timeout=30)


@contextlib.contextmanager
def local_cluster(config_path: Path, data_dir: Path, env: Mapping[str, str] | None = None) -> Iterator[LocalCluster]:
    cluster = LocalCluster(config_path, data_dir, env)
    try:
        yield cluster
    finally:
        cluster.stop_all()
