"""Requirement 1's drill: every core saturated, and the masters must hold.

For `seconds` (5 min in the long version, ~30 s short), all at once: the rush at full
speed (waves of new courses and students until the time is up), maximum-size course
imports, wide-JSON login bodies, and a CPU hog on every core. The watch samples every
node's `/cluster/status` every second. Checks: no unplanned master change (all are
unplanned here), lease renewal p99 under half the lease (the nodes' own figure where
they report it, else estimated from the sampled leases' age: a lease is renewed every
`renew_every_seconds`, so its age beyond that is the renewal's lag), one master at a
time, the rush's checks.
"""

from __future__ import annotations

import time
from typing import Any

from ops.drill import kit
from ops.drill.hog import cpu_hog
from ops.drill.load import Rush
from ops.drill.pressure import Pressure
from ops.drill.watch import MasterWatch

SERVICES = ["login", "course_data", "queue"]
COUNTS = {"login": 1, "course_data": 2, "queue": 2}


def run(
    options: kit.Options, *, imports: bool = True, wide_logins: bool = True, name: str = "saturate"
) -> dict[str, Any]:
    seconds = options.seconds or (30.0 if options.short else 300.0)
    with kit.site(COUNTS, options) as place:
        redis_url = kit.start(place, *SERVICES)
        cluster = place.cluster
        lease = cluster.config.raft.lease_seconds
        kit.wait_converged(place, SERVICES)
        rush = Rush(cluster, redis_url, students=200, concurrency=24, waves=1_000).prepare()
        watch = MasterWatch(place.urls(), cluster.tokens, lease, interval=1.0).start()
        began = time.monotonic()
        with cpu_hog() as hog:
            pressure = Pressure(cluster, login_senders=2 if wide_logins else 0)
            if imports or wide_logins:
                pressure.start()
            rush.start()
            time.sleep(seconds)  # the load runs for a set time: the drill's duration, not a wait for a condition
            rush.stop()
            answers = pressure.stop()
            watch.stop()
            loaded_s = time.monotonic() - began
        found = rush.finish()
        masters = watch.summary(SERVICES)
    if not imports:
        answers.pop("import")
    if not wide_logins:
        answers.pop("wide_login")
    renewal = [_renewal_p99(m, cluster.config.raft.renew_every_seconds) for m in masters.values()]
    checks = {
        **found["checks"],
        "unplanned_master_changes": sum(m["unplanned_master_changes"] for m in masters.values()),
        "samples_without_master": sum(m["samples_without_master"] for m in masters.values()),
        "lease_renewal_p99_over_half_lease": sum(r is not None and r >= lease / 2 for r in renewal),
        "proven_double_masters": sum(m["proven_double_masters"] for m in masters.values()),
        "epochs_with_two_holders": sum(m["epochs_with_two_holders"] for m in masters.values()),
    }
    return kit.outcome(
        name,
        {k: int(v) for k, v in checks.items()},
        {
            "seconds": round(loaded_s, 1),
            "hog": hog.tool,
            "lease_s": lease,
            "renewal_p99_s_worst": max((r for r in renewal if r is not None), default=None),
            "renewal_source": "nodes" if any(m["renewal_p99_s"] is not None for m in masters.values()) else "lease age",
            "lease_age_p99_s_worst": max((m["lease_age_p99_s"] or 0.0 for m in masters.values()), default=None),
            "admitted": found["admitted"],
            "admitted_per_s": found["admitted_per_s"],
            "outcomes": found["outcomes"],
            "pressure": answers,
            "masters": masters,
        },
    )


def _renewal_p99(master: dict[str, Any], renew_every: float) -> float | None:
    if master["renewal_p99_s"] is not None:
        return float(master["renewal_p99_s"])
    age = master["lease_age_p99_s"]
    return None if age is None else round(max(0.0, age - renew_every), 3)
