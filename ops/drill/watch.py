"""Who is master, as every node says, sampled while a drill runs.

One thread per node reads `GET /cluster/status` every `interval` seconds and keeps what
it saw: the node's own claim (`is_master`, its epoch) and its view of every service's
lease (holder, epoch, time left). From the samples:

- master changes per service (new epochs), and those outside the windows the drill
  planned (`planned()` around a fault): a saturated machine must cause none;
- samples where no node saw a master of a service;
- proven double masters: a node still claiming an older epoch in a sample taken wholly
  after another node's claim of a newer epoch had been answered;
- lease renewal latency. Until the nodes report it themselves, it is estimated from the
  leases' ages (lease_seconds - time left) as sampled: a renewal that lags shows as an
  old lease, where no node reports its own figure (`renewal_from_status`).
"""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from cluster.internal_auth import HEADER, InternalTokens


@dataclass(frozen=True)
class Sample:
    node: str
    sent: float  # monotonic, the drill's clock
    received: float
    is_master: bool
    service: str
    epoch: int
    masters: dict[str, tuple[str, int, float] | None]  # service -> (holder, epoch, expires_in)
    renewal: dict[str, float] | None


def renewal_from_status(status: dict[str, Any]) -> dict[str, float] | None:
    """The node's own lease renewal latency figures, as its Raft agent reports them in
    `/cluster/status` (`agent.renewal`: seconds over its recent renewals; only a master
    renews), or None where it has none yet (the watch then estimates from the leases' ages)."""
    found = (status.get("agent") or {}).get("renewal")
    if not isinstance(found, dict) or not found.get("count") or found.get("p99_seconds") is None:
        return None
    return {
        "p50": float(found["p50_seconds"]),
        "p99": float(found["p99_seconds"]),
        "max": float(found["max_seconds"]),
        "count": float(found["count"]),
    }


class MasterWatch:
    def __init__(
        self, urls: dict[str, str], tokens: InternalTokens, lease_seconds: float, interval: float = 1.0
    ) -> None:
        self.urls, self.tokens, self.lease_seconds, self.interval = urls, tokens, lease_seconds, interval
        self.samples: list[Sample] = []
        self.planned_windows: list[tuple[float, float]] = []
        self.started = self.ended = 0.0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self) -> MasterWatch:
        self.started = time.monotonic()
        for node, url in self.urls.items():
            thread = threading.Thread(target=self._poll, args=(node, url), name=f"watch-{node}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        self.ended = time.monotonic()

    @contextlib.contextmanager
    def planned(self, grace: float = 0.0) -> Iterator[None]:
        """Master changes seen from now until `grace` seconds after the block are planned."""
        began = time.monotonic()
        try:
            yield
        finally:
            self.planned_windows.append((began, time.monotonic() + grace))

    def _poll(self, node: str, url: str) -> None:
        with httpx.Client(timeout=max(0.5, self.interval)) as client:
            while not self._stop.is_set():
                sent = time.monotonic()
                try:
                    answer = client.get(f"{url}/cluster/status", headers={HEADER: self.tokens.mint()})
                    if answer.status_code == 200:
                        self._keep(node, sent, answer.json())
                except httpx.HTTPError:
                    pass  # a paused, cut or dead node: no sample
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - sent)))

    def _keep(self, node: str, sent: float, status: dict[str, Any]) -> None:
        masters = {
            service: (m["node"], int(m["epoch"]), float(m["expires_in"])) if m else None
            for service, m in status["masters"].items()
        }
        me = status["node"]
        sample = Sample(
            node, sent, time.monotonic(), bool(me["is_master"]), me["service"], int(me["epoch"]), masters, None
        )
        sample = Sample(**{**sample.__dict__, "renewal": renewal_from_status(status)})
        with self._lock:
            self.samples.append(sample)

    def summary(self, services: list[str]) -> dict[str, Any]:
        with self._lock:
            samples = sorted(self.samples, key=lambda s: s.received)
        return {service: self._service_summary(service, samples) for service in services}

    def _service_summary(self, service: str, samples: list[Sample]) -> dict[str, Any]:
        first_seen: dict[int, float] = {}
        holders: dict[int, set[str]] = {}
        ages: list[float] = []
        no_master = 0
        for s in samples:
            view = s.masters.get(service)
            if view is None:
                no_master += 1
                continue
            holder, epoch, expires_in = view
            first_seen.setdefault(epoch, s.received)
            holders.setdefault(epoch, set()).add(holder)
            ages.append(max(0.0, self.lease_seconds - expires_in))
        epochs = sorted(first_seen)
        changes = [first_seen[e] for e in epochs[1:]]
        unplanned = [t for t in changes if not any(a <= t <= b for a, b in self.planned_windows)]
        claims = [s for s in samples if s.service == service and s.is_master]
        double = sum(
            1
            for old in claims
            for new in claims
            if new.node != old.node and new.epoch > old.epoch and old.sent > new.received
        )
        own = [s.renewal["p99"] for s in samples if s.renewal and s.service == service and "p99" in s.renewal]
        ordered = sorted(ages)
        return {
            "epochs": epochs,
            "master_changes": len(changes),
            "unplanned_master_changes": len(unplanned),
            "epochs_with_two_holders": sum(len(h) > 1 for h in holders.values()),
            "proven_double_masters": double,
            "samples": len(samples),
            "samples_without_master": no_master,
            "lease_age_p50_s": round(statistics.median(ordered), 3) if ordered else None,
            "lease_age_p99_s": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3) if ordered else None,
            "lease_age_max_s": round(ordered[-1], 3) if ordered else None,
            "renewal_p99_s": round(max(own), 3) if own else None,  # the nodes' own figure (hook), if any
        }
