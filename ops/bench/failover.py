"""Failover: kill -9 the master of a service N times and time the takeover.

    python -m ops.bench failover [--config ops/clusters/local-ha.toml] [--service course_data]
                                 [--rounds 10] [--json FILE]

Each round kills the current master, then polls a surviving node of the service every
10 ms for (a) its view of a new master and (b) a successful write check (a fenced
commit through the new master). The killed node is restarted and must be ready before
the next round. Prints min / median / max of both times, in seconds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from ops.bench.report import save, summary
from ops.localcluster import ROOT, LocalCluster, local_cluster, wait_for


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.bench failover", description=__doc__.split("\n")[1])
    parser.add_argument("--config", type=Path, default=ROOT / "ops" / "clusters" / "local-ha.toml")
    parser.add_argument("--service", default="course_data")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cs-failover-") as tmp, local_cluster(args.config, Path(tmp)) as cluster:
        nodes = [n.id for n in cluster.config.nodes_of(args.service)]
        if len(nodes) < 2:
            parser.error(f"{args.service} needs at least two nodes in {args.config}")
        print(f"starting {len(cluster.config.nodes)} nodes from {args.config} ...", flush=True)
        cluster.start()
        cluster.wait_ready(timeout=180)
        to_master, to_write = [], []
        for round_no in range(1, args.rounds + 1):
            master_s, write_s = _one_round(cluster, args.service, nodes)
            to_master.append(master_s)
            to_write.append(write_s)
            print(f"round {round_no}/{args.rounds}: new master after {master_s:.3f}s, first write after {write_s:.3f}s")
    figures = {
        "benchmark": "failover",
        "config": str(args.config),
        "service": args.service,
        "lease_seconds": cluster.config.raft.lease_seconds,
        "kill_to_new_master_s": summary(to_master),
        "kill_to_first_write_s": summary(to_write),
    }
    for key in ("kill_to_new_master_s", "kill_to_first_write_s"):
        f = figures[key]
        print(f"{key}: min {f['min']:.3f}  median {f['median']:.3f}  max {f['max']:.3f}  (n={f['count']})")
    save(args.json, figures)
    return 0


def _one_round(cluster: LocalCluster, service: str, nodes: list[str]) -> tuple[float, float]:
    def current_master() -> str | None:
        seen = cluster.master(service, via=nodes[0]) or cluster.master(service, via=nodes[1])
        return seen[0] if seen else None

    master = wait_for(current_master, 30, f"a master of {service}")
    survivor = next(n for n in nodes if n != master)
    killed_at = time.perf_counter()
    cluster.kill(master)
    new_master_s = write_s = 0.0
    deadline = killed_at + 60
    while not write_s and time.perf_counter() < deadline:
        now = time.perf_counter() - killed_at
        if not new_master_s:
            seen = cluster.master(service, via=survivor)
            if seen and seen[0] != master:
                new_master_s = now
        response = cluster.write_check(survivor)
        if response.status_code == 200 and response.json()["node"] != master:
            write_s = time.perf_counter() - killed_at
            new_master_s = new_master_s or write_s
        time.sleep(0.01)
    if not write_s:
        raise TimeoutError(f"no write through a new master of {service} within 60s")
    cluster.start(master)
    cluster.wait_ready(master, timeout=120)
    return new_master_s, write_s
