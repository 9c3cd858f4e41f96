"""A private redis-server for a cluster that has no Redis URL configured.

It listens on loopback only, keeps an append-only file under the data directory and
requires a password generated into the data directory at first start. Its memory is
bounded (`maxmemory`) with the `noeviction` policy: Redis never drops a key to make room
(an admitted request's record or stream entry must not vanish), it refuses writes instead,
which admission answers 503 (retry later) while reads and deletions go on. The queue's
`queue_redis_memory_*` gauges show how close it is.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import redis

from cluster.errors import RedisServerError
from cluster.filemodes import PRIVATE_UMASK
from cluster.processes import die_with_parent
from cluster.secrets import load_or_create_secret

MAX_MEMORY = "512mb"  # about half a million queued requests' records, at ~0.9 KiB each


class PrivateRedis:
    def __init__(self, binary: str, port: int, data_dir: Path, max_memory: str = MAX_MEMORY) -> None:
        self.binary = binary
        self.port = port
        self.max_memory = max_memory
        self.dir = data_dir / "redis"
        self.password = load_or_create_secret(data_dir, "redis-password")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://:{quote(self.password, safe='')}@127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> None:
        path = shutil.which(self.binary)
        if path is None:
            raise RedisServerError(
                f"{self.binary} not found: install it (apt-get install redis-server) or set CS_REDIS__URL"
            )
        if self._port_taken():
            raise RedisServerError(f"port {self.port} (private redis-server) is already in use")
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        conf = self.dir / "redis.conf"
        conf.touch(mode=0o600)
        conf.chmod(0o600)  # private before the password is written into it
        conf.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {self.port}",
                    f'dir "{self.dir}"',
                    "appendonly yes",
                    "appendfsync everysec",
                    'save ""',
                    f"maxmemory {self.max_memory}",
                    "maxmemory-policy noeviction",
                    "daemonize no",
                    "protected-mode yes",
                    'logfile "redis.log"',
                    f'requirepass "{self.password}"',
                    "",
                ]
            )
        )
        conf.chmod(0o600)
        self.process = subprocess.Popen(
            [path, str(conf)],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
            umask=PRIVATE_UMASK,  # its append-only files and log are private
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RedisServerError(f"redis-server exited with {self.process.returncode}: {self._log_tail()}")
            if self._ping():
                return
            time.sleep(0.05)
        self.stop()
        raise RedisServerError(f"redis-server did not answer on port {self.port} within {timeout:.0f}s")

    def ensure(self) -> bool:
        """Start the server unless ours already answers; True if this call started it."""
        if self._ping():
            return False
        self.start()
        return True

    def stop(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _ping(self) -> bool:
        client = redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=0.5)
        try:
            return bool(client.ping())
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
            return False  # not up yet (or still loading its append-only file)
        finally:
            client.close()

    def _port_taken(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def _log_tail(self) -> str:
        log = self.dir / "redis.log"
        return log.read_text()[-500:].strip() if log.exists() else "(no log)"
