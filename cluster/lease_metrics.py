"""The app's Prometheus view of the lease figures its Raft agent pushes (`cluster/agent_metrics.py`
measures them in the agent; the metrics are listed there)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from cluster.agent_metrics import BUCKETS, RenewalStats


class LeaseCollector(Collector):
    """Prometheus view of what the agent last pushed (`report()` returns the agent section)."""

    def __init__(self, report: Callable[[], dict[str, Any]]) -> None:
        self.report = report

    def collect(self) -> Iterator[Metric]:
        report = self.report()
        renewal = report.get("renewal") or RenewalStats().snapshot()
        cumulative, buckets = 0, []
        for bound, count in zip(BUCKETS, renewal["buckets"], strict=True):
            cumulative += count
            buckets.append((repr(bound), cumulative))
        buckets.append(("+Inf", renewal["count"]))
        yield HistogramMetricFamily(
            "cluster_lease_renewal_seconds",
            "Master lease renewal latency, from sending the request to its result.",
            buckets=buckets,
            sum_value=renewal["sum"],
        )
        failures = CounterMetricFamily(
            "cluster_lease_renewal_failures", "Lease renewals that did not commit, by reason.", labels=["reason"]
        )
        for reason, count in sorted(renewal["failures"].items()):
            failures.add_metric([reason], count)
        yield failures
        yield GaugeMetricFamily(
            "cluster_is_master", "1 while this node acts as its service's master.", report["is_master"]
        )
        epochs = GaugeMetricFamily(
            "cluster_master_epoch",
            "The newest master epoch of each service (+1 per master change).",
            labels=["service"],
        )
        for service, epoch in sorted(report["epochs"].items()):
            epochs.add_metric([service], epoch)
        yield epochs
        yield GaugeMetricFamily(
            "cluster_app_checkin_gap_max_seconds",
            "Longest silence of the app's liveness thread seen by its Raft agent.",
            report.get("app_checkin_gap_max_seconds") or 0.0,
        )
        yield CounterMetricFamily(
            "cluster_raft_truncations",
            "Benign re-sends of applied Raft entries (PySyncObj's 'truncating already-applied').",
            report.get("raft_truncations") or 0,
        )
