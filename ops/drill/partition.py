"""Cut the ledger's (course_data) master off from everything, mid-rush; heal; check.

Every node runs in its own network namespace (root only); the cut drops every packet to
and from the master's host, caught while it holds an open write transaction (frozen for
the moment of the cut, then running on). In flight on it: a write check paused (debug failpoint)
after taking its fence, which tries to commit while the host is cut off, after its lease.
Checks: the rush's (checker), no commit by the old master after its lease, one master at
a time, convergence after healing. Figures: time to a new master and to its first write.
"""

from __future__ import annotations

import time
from typing import Any

from ops.drill import kit
from ops.drill.load import PausedWrite, Rush, time_failover
from ops.drill.netns import unavailable
from ops.drill.watch import MasterWatch
from ops.partitions import heal_after

SERVICES = ["login", "course_data", "queue"]
COUNTS = {"login": 1, "course_data": 2, "queue": 2}


def run(options: kit.Options) -> dict[str, Any]:
    reason = unavailable()
    if reason:
        return kit.skipped("partition", reason)
    cut_seconds = options.seconds or (4.0 if options.short else 8.0)
    with kit.site(COUNTS, options, extra=kit.FAILPOINTS, namespaces=True) as place:
        assert place.lab is not None
        lab = place.lab
        redis_url = kit.start(place, *SERVICES)
        cluster = place.cluster
        lease = cluster.config.raft.lease_seconds
        rush = Rush(cluster, redis_url, students=150 if options.short else 1500).prepare().start()
        watch = MasterWatch(place.urls(), cluster.tokens, lease, interval=0.2).start()
        rush.wait_share(1 / 3)
        old, old_epoch = kit.master_of(place, "course_data")
        survivor = kit.other_node(place, "course_data", old)
        probe = PausedWrite(cluster, old, pause_ms=int((lease + 1.0) * 1000)).start()
        with watch.planned(grace=2 * lease):
            caught = kit.stop_inside_transaction(place, old, budget=0.5)  # cut in the middle of a write
            lab.cut(old)
            cluster.thaw(old, caught["agent"])  # it runs on, alone
            struck, struck_wall = time.monotonic(), time.time()
            heal = heal_after(lab, old, cut_seconds)
            try:
                failover = time_failover(cluster, "course_data", old, survivor, struck, timeout=cut_seconds + 30)
            finally:
                heal.join()
                lab.heal(old)
        converge_s = kit.wait_converged(place, SERVICES)
        written = probe.result()
        watch.stop()
        found = rush.finish()
        late = kit.commits_after(place, old, old_epoch, struck_wall + lease)
        masters = watch.summary(SERVICES)
    checks = {
        **found["checks"],
        "old_master_committed_after_lease": late,
        "proven_double_masters": sum(m["proven_double_masters"] for m in masters.values()),
        "epochs_with_two_holders": sum(m["epochs_with_two_holders"] for m in masters.values()),
        "no_write_through_new_master": failover.first_write_s is None,
    }
    return kit.outcome(
        "partition",
        {k: int(v) for k, v in checks.items()},
        {
            "database": options.database,
            "cut_s": cut_seconds,
            "cut_inside_transaction": caught["inside"],
            "new_master_s": failover.new_master_s,
            "first_write_s": failover.first_write_s,
            "paused_write_check": written,
            "converged_after_heal_s": converge_s,
            "outcomes": found["outcomes"],
            "masters": masters,
        },
    )
