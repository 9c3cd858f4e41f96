"""Run every local node of a configuration as its own process and keep them running.

A node that exits with code 2 during its first seconds has a problem a restart cannot
fix (bad configuration, port in use): the supervisor stops everything and exits 2.
Any other exit is restarted with growing back-off. SIGTERM or SIGINT stops every node
(SIGTERM, then SIGKILL after the grace period) and exits 0.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType

from cluster.config import NodeConfig
from cluster.filemodes import PRIVATE_UMASK
from cluster.processes import die_with_parent

log = logging.getLogger("course_selection.supervisor")

EXIT_CONFIG = 2
_FATAL_WINDOW = 10.0
_MAX_BACKOFF = 30.0


@dataclass
class _Child:
    node: NodeConfig
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    backoff: float = 1.0
    restart_at: float = 0.0


class Supervisor:
    def __init__(
        self,
        nodes: Sequence[NodeConfig],
        command: Callable[[NodeConfig], list[str]],
        env: Mapping[str, str],
        grace_seconds: float = 10.0,
    ) -> None:
        self.children = [_Child(node) for node in nodes]
        self.command = command
        self.env = dict(env)
        self.grace = grace_seconds
        self.stopping = threading.Event()
        self.exit_code = 0

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for child in self.children:
                self._spawn(child)
            while not self.stopping.wait(0.1):
                self._check_children()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.exit_code

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("received %s, stopping every node", signal.Signals(signum).name)
        self.stopping.set()

    def _spawn(self, child: _Child) -> None:
        child.process = subprocess.Popen(
            self.command(child.node),
            env=self.env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops nodes in order
            preexec_fn=die_with_parent,
            umask=PRIVATE_UMASK,  # whatever the supervisor's own: a node's files are private
        )
        child.started_at = time.monotonic()
        log.info("started node", extra={"node": child.node.id, "pid": child.process.pid})

    def _check_children(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.process is None:
                if now >= child.restart_at:
                    self._spawn(child)
                continue
            code = child.process.poll()
            if code is None:
                continue
            ran = now - child.started_at
            child.process = None
            if code == EXIT_CONFIG and ran < _FATAL_WINDOW:
                log.error("node cannot start; stopping the cluster", extra={"node": child.node.id, "code": code})
                self.exit_code = EXIT_CONFIG
                self.stopping.set()
                return
            child.backoff = 1.0 if ran > _MAX_BACKOFF else min(child.backoff * 2, _MAX_BACKOFF)
            child.restart_at = now + child.backoff
            log.warning(
                "node exited; restarting", extra={"node": child.node.id, "code": code, "in_seconds": child.backoff}
            )

    def _stop_all(self) -> None:
        running = [c.process for c in self.children if c.process is not None and c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for process in running:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("node did not stop in time; killing it", extra={"pid": process.pid})
                process.kill()
                process.wait()
        log.info("every node stopped")
