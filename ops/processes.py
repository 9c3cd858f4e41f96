"""`run.py` processes started by a test, a benchmark or a drill: one kit for all of them.

Each process gets its own private log file (appended to when it is started again under
the same name), an environment without the caller's `CS_` settings unless given, and an
optional prefix (`ip netns exec NS`, which execs it: the pid is still the process's).
`stop_all` ends each process it started (a stopped one is continued first: a paused
process cannot handle SIGTERM) and then every descendant it saw, so nothing is left
running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
STOP_SECONDS = 20.0


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without its `CS_` settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CS_")}
    env.update(extra or {})
    return env


class ProcessKit:
    def __init__(self, log_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.log_dir = log_dir
        # Kept, not copied: a caller that changes its environment (a test giving one node another
        # secret, the private Redis's URL) starts the next process with the change.
        self.env = env if env is not None else clean_environment()
        self.started: list[subprocess.Popen[bytes]] = []
        self.logs: dict[int, Path] = {}
        self.seen: set[psutil.Process] = set()

    def run_py(
        self,
        *args: str,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        prefix: list[str] | None = None,
        **kwargs: Any,
    ) -> subprocess.Popen[bytes]:
        """Start `run.py ARGS`; its output goes to `log_dir/NAME.log` (private)."""
        self.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        log = self.log_dir / f"{name or f'process-{len(self.started)}'}.log"
        with log.open("ab") as sink:
            os.fchmod(sink.fileno(), 0o600)
            process = subprocess.Popen(
                [*(prefix or []), sys.executable, str(ROOT / "run.py"), *args],
                cwd=ROOT,
                env={**self.env, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                **kwargs,
            )
        self.started.append(process)
        self.logs[process.pid] = log
        return process

    def finish(self, process: subprocess.Popen[bytes], timeout: float = 60) -> tuple[int, str]:
        """Wait for `process` to exit; return its exit code and everything it printed."""
        code = process.wait(timeout=timeout)
        return code, self.output(process)

    def output(self, process: subprocess.Popen[bytes]) -> str:
        return self.logs[process.pid].read_text(errors="replace")

    def descendants(self, process: subprocess.Popen[bytes]) -> list[psutil.Process]:
        with contextlib.suppress(psutil.NoSuchProcess):
            found = psutil.Process(process.pid).children(recursive=True)
            self.seen.update(found)
            return found
        return []

    def stop(self, process: subprocess.Popen[bytes], timeout: float = STOP_SECONDS) -> int:
        """SIGTERM, and its exit code; killed (and TimeoutExpired raised) if it does not stop in time."""
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise

    def stop_all(self) -> None:
        running = [p for p in self.started if p.poll() is None]
        for process in self.started:
            self.descendants(process)
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGCONT)
                process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for leftover in self.seen:
            with contextlib.suppress(psutil.NoSuchProcess):
                leftover.kill()
