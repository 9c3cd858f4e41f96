"""PostgreSQL: the ledger master's host dies in the middle of a write, mid-rush.

Every node runs in its own network namespace (root only), PostgreSQL in the hub. The
master is frozen while it holds an open write transaction, its host is cut off (every
packet dropped), then the process is killed: no FIN or RST ever reaches PostgreSQL,
whose backend keeps the transaction and its locks. Figures: time to a new master, to
its first write, and until PostgreSQL dropped the dead backend. If no write came
through within the drill's patience, the dead backend is terminated by hand (counted
as a failed check) so that the rest can still be checked.
"""

from __future__ import annotations

import time
from typing import Any

from ops.drill import kit
from ops.drill.load import Rush, time_failover, write_through
from ops.drill.netns import unavailable
from ops.drill.postgres import postgres_bin
from ops.drill.watch import MasterWatch

SERVICES = ["login", "course_data", "queue"]
COUNTS = {"login": 1, "course_data": 2, "queue": 1}


def run(options: kit.Options) -> dict[str, Any]:
    reason = unavailable() or (None if postgres_bin() else "no PostgreSQL server binaries (apt-get install postgresql)")
    if reason:
        return kit.skipped("dead-host", reason)
    patience = options.seconds or (15.0 if options.short else 120.0)
    options = kit.Options(short=options.short, database="postgres", seconds=options.seconds)
    with kit.site(COUNTS, options, namespaces=True) as place:
        assert place.lab is not None
        assert place.postgres is not None
        lab, pg = place.lab, place.postgres
        redis_url = kit.start(place, *SERVICES)
        cluster = place.cluster
        lease = cluster.config.raft.lease_seconds
        rush = Rush(cluster, redis_url, students=150 if options.short else 1500).prepare().start()
        watch = MasterWatch(place.urls(), cluster.tokens, lease, interval=0.2).start()
        rush.wait_share(1 / 3)
        old, _ = kit.master_of(place, "course_data")
        survivor = kit.other_node(place, "course_data", old)
        address = lab.addresses[old]
        with watch.planned(grace=patience):
            caught = kit.stop_inside_transaction(place, old, budget=2.0)
            lab.cut(old)
            cluster.kill(old, caught["agent"])  # kill -9 behind the cut: PostgreSQL never hears of it
            struck = time.monotonic()
            failover = time_failover(cluster, "course_data", old, survivor, struck, timeout=patience)
            rescued = 0
            if failover.first_write_s is None:
                pg.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE client_addr = '{address}'")
                rescued = 1
                after = write_through(cluster, survivor, old, 60)
                rescued_write_s = None if after is None else time.monotonic() - struck
            else:
                rescued_write_s = None
        backends = pg.psql(f"SELECT count(*) FROM pg_stat_activity WHERE client_addr = '{address}'").strip()
        converge_s = kit.wait_converged(place, SERVICES)
        watch.stop()
        found = rush.finish()
        masters = watch.summary(SERVICES)
    checks = {
        **found["checks"],
        "no_write_until_dead_backend_terminated_by_hand": rescued,
        "proven_double_masters": sum(m["proven_double_masters"] for m in masters.values()),
        "epochs_with_two_holders": sum(m["epochs_with_two_holders"] for m in masters.values()),
    }
    return kit.outcome(
        "dead-host",
        {k: int(v) for k, v in checks.items()},
        {
            "database": "postgres",
            "died_inside_transaction": caught["inside"],
            "new_master_s": failover.new_master_s,
            "first_write_s": failover.first_write_s,
            "first_write_after_rescue_s": rescued_write_s,
            "patience_s": patience,
            "dead_backends_left": int(backends or 0),
            "converged_s": converge_s,
            "outcomes": found["outcomes"],
            "masters": masters,
        },
    )
