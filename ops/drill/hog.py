"""A CPU hog on every core beside the cluster: stress-ng where installed, else Python busy loops.

The hog's processes run at normal priority, as another tenant's work would; `stop()`
ends each one it started (by pid) and reaps it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator

from cluster.processes import die_with_parent

_BUSY = "import signal, sys\nsignal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\nwhile True: pass\n"


class CpuHog:
    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.tool = "stress-ng" if shutil.which("stress-ng") else "python"
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> CpuHog:
        if self.tool == "stress-ng":
            commands = [["stress-ng", "--cpu", str(self.workers), "--cpu-method", "matrixprod", "--quiet"]]
        else:
            commands = [[sys.executable, "-c", _BUSY] for _ in range(self.workers)]
        for command in commands:
            self.processes.append(
                subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,  # stress-ng's workers share its process group
                    preexec_fn=die_with_parent,
                )
            )
        return self

    def stop(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)  # its own group: stress-ng and its workers
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()


@contextlib.contextmanager
def cpu_hog(workers: int | None = None) -> Iterator[CpuHog]:
    hog = CpuHog(workers).start()
    try:
        yield hog
    finally:
        hog.stop()
