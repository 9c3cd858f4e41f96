"""A Redis primary, two replicas and three sentinels on loopback, started and stopped by a test.

Every server runs with `min-replicas-to-write 1`, as a deployment should: a promoted
replica still has a replica of its own, and a demoted primary refuses writes at once.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.support import free_ports, wait_until

SERVICE = "cs"


@dataclass
class SentinelGroup:
    primary_port: int
    replica_ports: list[int]
    sentinel_ports: list[int]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def sentinels(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)

    def primary(self) -> int:
        """The port the sentinels name as primary now."""
        client = redis.Redis(port=self.sentinel_ports[0], socket_timeout=1)
        try:
            _host, port = client.sentinel_get_master_addr_by_name(SERVICE)
            return int(port)
        finally:
            client.close()

    def fail_over(self) -> int:
        """Promote the replica (SENTINEL FAILOVER) and wait until every sentinel agrees; the new port."""
        before = self.primary()
        client = redis.Redis(port=self.sentinel_ports[0], socket_timeout=2)
        try:
            client.execute_command("SENTINEL", "FAILOVER", SERVICE)
        finally:
            client.close()

        def moved() -> bool:
            ports = set()
            for port in self.sentinel_ports:
                sentinel = redis.Redis(port=port, socket_timeout=1)
                try:
                    ports.add(int(sentinel.sentinel_get_master_addr_by_name(SERVICE)[1]))
                except redis.RedisError:
                    return False
                finally:
                    sentinel.close()
            return ports != {before} and len(ports) == 1

        wait_until(moved, 30, "the sentinels to agree on the promoted replica")
        return self.primary()


@contextmanager
def sentinel_group(folder: Path) -> Iterator[SentinelGroup]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed")
    primary, *others = free_ports(6)
    replicas, sentinels = others[:2], others[2:]
    group = SentinelGroup(primary, replicas, sentinels)
    try:
        servers = [(primary, ""), *((port, f"replicaof 127.0.0.1 {primary}\n") for port in replicas)]
        for port, extra in servers:
            conf = folder / f"redis-{port}.conf"
            conf.write_text(
                f'bind 127.0.0.1\nport {port}\ndir "{folder}"\nsave ""\nappendonly no\n'
                f"min-replicas-to-write 1\nmin-replicas-max-lag 2\n{extra}"
            )
            group.processes.append(_start(binary, conf))
            wait_until(lambda p=port: _pings(p), 15, f"redis-server on {port}")
        for port in sentinels:
            conf = folder / f"sentinel-{port}.conf"
            conf.write_text(
                f'bind 127.0.0.1\nport {port}\ndir "{folder}"\n'
                f"sentinel monitor {SERVICE} 127.0.0.1 {primary} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                f"sentinel failover-timeout {SERVICE} 5000\n"
            )
            group.processes.append(_start(binary, conf, "--sentinel"))
        wait_until(lambda: _writable(primary), 15, "the replica in sync (the primary takes writes)")
        for port in sentinels:
            wait_until(lambda p=port: _knows_primary(p, primary), 15, f"sentinel {port} watching the primary")
        yield group
    finally:
        for process in group.processes:
            process.terminate()
        for process in group.processes:
            with suppress(subprocess.TimeoutExpired):
                process.wait(10)
            if process.poll() is None:
                process.kill()
                process.wait()


def _start(binary: str, conf: Path, *args: str) -> subprocess.Popen[bytes]:
    with conf.with_suffix(".log").open("wb") as log:
        return subprocess.Popen([binary, str(conf), *args], stdout=log, stderr=subprocess.STDOUT)


def _pings(port: int) -> bool:
    client = redis.Redis(port=port, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _writable(port: int) -> bool:
    """min-replicas-to-write 1: a primary takes writes once its replica has acknowledged."""
    client = redis.Redis(port=port, socket_timeout=0.5)
    try:
        return bool(client.set("cs:kit:ready", "1"))
    except redis.RedisError:
        return False
    finally:
        client.close()


def _knows_primary(sentinel_port: int, primary: int) -> bool:
    client = redis.Redis(port=sentinel_port, socket_timeout=0.5)
    try:
        return int(client.sentinel_get_master_addr_by_name(SERVICE)[1]) == primary
    except (redis.RedisError, TypeError):
        return False
    finally:
        client.close()
