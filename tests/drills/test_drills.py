"""The short version of every drill (`ops/drill`), on real processes: the checker's outcomes.

Each drill strikes its fault mid-rush and then checks, against Redis and the ledger's
database, what its clients were told: nothing lost, duplicated or oversold, first come
first served, one master per service at a time, no commit by a deposed master.
Partition and dead-host need root (network namespaces, iptables) and are skipped with
the reason otherwise; dead-host needs PostgreSQL's binaries.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from ops.drill import cpuhog, deadhost, kit, partition, saturate, sigstop
from ops.drill.netns import lab, unavailable

pytestmark = pytest.mark.cluster

# Checks known to fail, each with the reason (the issue that will fix it): a drill failing
# only these is reported as xfail with the counts; any other failed check fails the test.
# Empty: every check of every drill must hold.
PENDING: dict[str, str] = {}


def expect_clean(outcome: dict[str, Any]) -> None:
    if "skipped" in outcome:
        pytest.skip(outcome["skipped"])
    assert outcome["checks"], outcome
    failed = {k: v for k, v in outcome["checks"].items() if v}
    hard = {k: v for k, v in failed.items() if k not in PENDING}
    assert not hard, (hard, outcome["figures"])
    if failed:
        pytest.xfail("; ".join(f"{k}={v} ({PENDING[k]})" for k, v in failed.items()))


def test_sigstop_of_the_ledger_master_inside_a_transaction() -> None:
    outcome = sigstop.run(kit.Options(short=True, seconds=3.0))
    assert outcome["figures"]["paused_write_check"] in ("written", "refused")
    expect_clean(outcome)


def test_partition_of_the_ledger_master() -> None:
    expect_clean(partition.run(kit.Options(short=True, seconds=3.0)))


def test_dead_host_of_the_ledger_master_on_postgresql() -> None:
    outcome = deadhost.run(kit.Options(short=True, seconds=6.0))
    if "skipped" not in outcome:
        assert outcome["figures"]["new_master_s"] is not None
    expect_clean(outcome)


def test_cpu_hog_beside_the_rush() -> None:
    expect_clean(cpuhog.run(kit.Options(short=True, seconds=6.0)))


def test_saturation_rush_imports_wide_logins_and_hog() -> None:
    outcome = saturate.run(kit.Options(short=True, seconds=10.0))
    pressure = outcome["figures"]["pressure"]
    assert sum(pressure["import"].values()) >= 1  # the imports and wide logins did run beside the rush
    assert sum(pressure["wide_login"].values()) >= 1
    assert "413" not in pressure["wide_login"]  # under the body limit: each one is parsed and answered
    expect_clean(outcome)


def test_a_lab_is_removed_even_when_its_drill_fails() -> None:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    made: list[str] = []

    def failing_drill() -> None:
        with lab(["a", "b"]) as hosts:
            made.extend([hosts.hub, *hosts.namespaces.values()])
            hosts.cut("a")
            raise RuntimeError("the drill failed")

    with pytest.raises(RuntimeError, match="the drill failed"):
        failing_drill()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert len(made) == 3
    assert not [ns for ns in made if ns in listed]
