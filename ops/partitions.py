"""Cutting nodes off and healing them, the same way for every kind of network a drill or a test
has: network namespaces (`ops.drill.netns.Lab`) or the in-memory Raft twin (`tests/kit/raft.py`)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Protocol


class Cuttable(Protocol):
    def cut(self, host: str) -> None: ...
    def heal(self, host: str) -> None: ...


@contextlib.contextmanager
def partitioned(network: Cuttable, *hosts: str) -> Iterator[None]:
    """`hosts` cut off from the others while the block runs; healed after it, whatever happens."""
    try:
        for host in hosts:
            network.cut(host)
        yield
    finally:
        for host in hosts:
            network.heal(host)


def heal_after(network: Cuttable, host: str, seconds: float) -> threading.Timer:
    """Heal `host` in `seconds`, from another thread (a drill measures the failover meanwhile);
    join the timer, then heal again (idempotent) to be sure."""
    timer = threading.Timer(seconds, network.heal, (host,))
    timer.start()
    return timer
