"""Lease renewal latency: measured in the agent, exported by the app.

The agent times every acquire/renew request it sends (send to result, whatever the
result) and pushes the figures with its status; the app exports them on `/metrics`:

- `cluster_lease_renewal_seconds` (histogram): renewal latency;
- `cluster_lease_renewal_failures_total{reason}`: renewals that did not commit;
- `cluster_is_master`, `cluster_master_epoch{service}` (the replicated epoch counter:
  each master change adds one), `cluster_app_checkin_gap_max_seconds` (the longest
  silence of the app's liveness thread), `cluster_raft_truncations_total`.

`/cluster/status` shows `agent.renewal` with `last_seconds`, `p50_seconds`,
`p99_seconds`, `max_seconds` over the last `window` renewals.

The app's exporter is `cluster/lease_metrics.py`: this module is the agent's, and the agent
(started by every node) does not import prometheus_client, a third of its start-up imports.
"""

from __future__ import annotations

from collections import deque
from typing import Any

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0)
WINDOW = 1000


class RenewalStats:
    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS)
        self.count = 0
        self.sum = 0.0
        self.recent: deque[float] = deque(maxlen=WINDOW)
        self.failures: dict[str, int] = {}

    def observe(self, seconds: float, outcome: str) -> None:
        self.count += 1
        self.sum += seconds
        self.recent.append(seconds)
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.counts[i] += 1
                break
        if outcome not in ("granted", "refused"):
            self.failures[outcome] = self.failures.get(outcome, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        ordered = sorted(self.recent)

        def quantile(q: float) -> float | None:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 6) if ordered else None

        return {
            "count": self.count,
            "sum": self.sum,
            "buckets": list(self.counts),
            "failures": dict(self.failures),
            "window": len(ordered),
            "last_seconds": round(self.recent[-1], 6) if self.recent else None,
            "p50_seconds": quantile(0.5),
            "p99_seconds": quantile(0.99),
            "max_seconds": round(ordered[-1], 6) if ordered else None,
        }
