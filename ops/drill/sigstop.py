"""SIGSTOP the ledger's (course_data) master inside a write transaction, mid-rush, for longer
than its lease; resume it; check.

Also in flight on the old master: a write check paused (debug failpoint) after taking its
fence, so it tries to commit after waking. Checks: the rush's (checker), no commit by the
old master after its lease (the paused write check, and on PostgreSQL the stopped
transaction itself), one master at a time, convergence. Figures: time to a new master and
to its first write, and whether the stop was caught inside a transaction.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ops.drill import kit
from ops.drill.load import PausedWrite, Rush, time_failover
from ops.drill.watch import MasterWatch

SERVICES = ["login", "course_data", "queue"]
COUNTS = {"login": 1, "course_data": 2, "queue": 1}


def run(options: kit.Options) -> dict[str, Any]:
    stop_seconds = options.seconds or (4.0 if options.short else 10.0)
    with kit.site(COUNTS, options, extra=kit.FAILPOINTS) as place:
        redis_url = kit.start(place, *SERVICES)
        cluster = place.cluster
        lease = cluster.config.raft.lease_seconds
        rush = Rush(cluster, redis_url, students=150 if options.short else 1500).prepare().start()
        watch = MasterWatch(place.urls(), cluster.tokens, lease, interval=0.2).start()
        rush.wait_share(1 / 3)
        old, old_epoch = kit.master_of(place, "course_data")
        survivor = kit.other_node(place, "course_data", old)
        probe = PausedWrite(cluster, old, pause_ms=300).start()
        with watch.planned(grace=2 * lease):
            caught = kit.stop_inside_transaction(place, old, budget=0.25)
            struck, struck_wall = time.monotonic(), time.time()
            resume = threading.Timer(stop_seconds, cluster.thaw, (old, caught["agent"]))
            resume.start()
            try:
                failover = time_failover(cluster, "course_data", old, survivor, struck, timeout=stop_seconds + 40)
            finally:
                resume.join()
        written = probe.result()
        converge_s = kit.wait_converged(place, SERVICES)
        watch.stop()
        found = rush.finish()
        late = kit.commits_after(place, old, old_epoch, struck_wall + lease)
        xact = kit.xact_status(place, caught["xid"])
        masters = watch.summary(SERVICES)
    checks = {
        **found["checks"],
        # the paused write check (its row, or a 200 answer), and on PostgreSQL the stopped transaction
        "old_master_committed_after_lease": max(late, written == "written") + (xact == "committed"),
        "proven_double_masters": sum(m["proven_double_masters"] for m in masters.values()),
        "epochs_with_two_holders": sum(m["epochs_with_two_holders"] for m in masters.values()),
        "no_write_through_new_master": failover.first_write_s is None,
    }
    return kit.outcome(
        "sigstop",
        {k: int(v) for k, v in checks.items()},
        {
            "database": options.database,
            "stopped_s": stop_seconds,
            "stopped_inside_transaction": caught["inside"],
            "stopped_transaction": xact,
            "paused_write_check": written,
            "new_master_s": failover.new_master_s,
            "first_write_s": failover.first_write_s,
            "converged_after_resume_s": converge_s,
            "outcomes": found["outcomes"],
            "masters": masters,
        },
    )
