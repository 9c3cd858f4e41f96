"""Failover: strike the master of a service, time the takeover, per scenario.

    python -m ops.bench failover [--scenarios kill9,sigstop,sigstop-app,partition,dead-host,kill9-hog]
                                 [--rounds 5] [--database sqlite|postgres] [--json FILE]

Each scenario gets a fresh cluster (course_data x2, login, queue; the drill kit's) with
a write load running: two clients sending fenced write checks through every course_data
node. Each round strikes the ledger's (course_data) master, then polls the other
course_data node every 10 ms for (a) its view of a new master and (b) a write check
committed by a node other than the old one. Times are from the strike, in seconds.

- kill9: kill -9 of the master process; it is restarted after the round.
- sigstop: SIGSTOP of the whole node (app and Raft agent: a frozen VM or container)
  while it holds an open write transaction (caught within 1 s, else anywhere), SIGCONT
  after 5 s (over three leases).
- sigstop-app: SIGSTOP of the app alone (the process inside the transaction), caught as
  in sigstop; its agent stops renewing the lease and kills it; restarted after the round.
- partition: while it holds an open write transaction (as sigstop), every packet to and
  from its host dropped (network namespaces, root); it runs on; healed after 8 s.
- dead-host: PostgreSQL; frozen inside a write transaction, its host cut off, then
  killed: PostgreSQL is never told. After 90 s without a write, the dead backend is
  terminated by hand and the round counts as failed (no time).
- kill9-hog: kill9 with a CPU hog on every core (stress-ng, else Python busy loops).

Prints min / median / max per scenario and figure; a scenario that cannot run here
(not root, no PostgreSQL) is listed as skipped with the reason.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ops.bench.report import save, summary
from ops.drill import kit
from ops.drill.hog import cpu_hog
from ops.drill.load import Failover, time_failover
from ops.drill.netns import unavailable
from ops.drill.postgres import postgres_bin

COUNTS = {"course_data": 2, "login": 1, "queue": 1}
SERVICE = "course_data"
STOP_SECONDS, CUT_SECONDS, DEAD_PATIENCE = 5.0, 8.0, 90.0


@dataclass(frozen=True)
class Scenario:
    name: str
    # strikes; returns what restores the old master, and whether it was caught inside a transaction
    strike: Callable[[kit.Site, str], tuple[Callable[[], None], bool | None]]
    namespaces: bool = False
    postgres: bool = False
    hog: bool = False
    patience: float = 60.0


def _restart(place: kit.Site, old: str) -> None:
    place.cluster.start(old)
    place.cluster.wait_ready(old, timeout=120)


def _kill9(place: kit.Site, old: str) -> tuple[Callable[[], None], bool | None]:
    place.cluster.kill(old)
    return (lambda: _restart(place, old)), None


def _sigstop(place: kit.Site, old: str) -> tuple[Callable[[], None], bool | None]:
    caught = kit.stop_inside_transaction(place, old, budget=1.0)
    resume = threading.Timer(STOP_SECONDS, place.cluster.thaw, (old, caught["agent"]))
    resume.start()
    return resume.join, bool(caught["inside"])


def _sigstop_app(place: kit.Site, old: str) -> tuple[Callable[[], None], bool | None]:
    caught = kit.stop_inside_transaction(place, old, budget=1.0, app_only=True)
    process = place.cluster.processes[old]

    def restore() -> None:
        try:  # its agent kills it once the lease has run out
            process.wait(STOP_SECONDS * 6)
        except subprocess.TimeoutExpired:
            place.cluster.signal(old, signal.SIGCONT)
            raise RuntimeError(f"{old}'s agent did not kill its frozen app") from None
        place.cluster.processes.pop(old)
        _restart(place, old)

    return restore, bool(caught["inside"])


def _partition(place: kit.Site, old: str) -> tuple[Callable[[], None], bool | None]:
    assert place.lab is not None
    lab = place.lab
    caught = kit.stop_inside_transaction(place, old, budget=1.0)  # cut in the middle of a write
    lab.cut(old)
    place.cluster.thaw(old, caught["agent"])
    heal = threading.Timer(CUT_SECONDS, lab.heal, (old,))
    heal.start()

    def restore() -> None:
        heal.join()
        lab.heal(old)

    return restore, bool(caught["inside"])


def _dead_host(place: kit.Site, old: str) -> tuple[Callable[[], None], bool | None]:
    assert place.lab is not None
    lab = place.lab
    caught = kit.stop_inside_transaction(place, old, budget=1.0)
    lab.cut(old)
    place.cluster.kill(old, caught["agent"])

    def restore() -> None:
        assert place.postgres is not None
        place.postgres.psql(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE client_addr = '{lab.addresses[old]}'"
        )
        lab.heal(old)
        _restart(place, old)

    return restore, bool(caught["inside"])


SCENARIOS = {
    "kill9": Scenario("kill9", _kill9),
    "sigstop": Scenario("sigstop", _sigstop),
    "sigstop-app": Scenario("sigstop-app", _sigstop_app),
    "partition": Scenario("partition", _partition, namespaces=True),
    "dead-host": Scenario("dead-host", _dead_host, namespaces=True, postgres=True, patience=DEAD_PATIENCE),
    "kill9-hog": Scenario("kill9-hog", _kill9, hog=True),
}


def _cannot_run(scenario: Scenario) -> str | None:
    if scenario.namespaces and (reason := unavailable()):
        return reason
    if scenario.postgres and postgres_bin() is None:
        return "no PostgreSQL server binaries (apt-get install postgresql)"
    return None


@contextlib.contextmanager
def write_load(place: kit.Site, clients: int = 2) -> Iterator[None]:
    """Clients sending fenced write checks through every course_data node until the block ends."""
    stop = threading.Event()
    nodes = [n.id for n in place.cluster.config.nodes_of(SERVICE)]

    def send(offset: int) -> None:
        turn = offset
        while not stop.is_set():
            node = nodes[turn % len(nodes)]
            turn += 1
            if node in place.cluster.processes:
                with contextlib.suppress(httpx.HTTPError):
                    place.cluster.request(node, "POST", "/cluster/write-check", json={}, timeout=5)
            stop.wait(0.005)

    threads = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)


def run_scenario(scenario: Scenario, rounds: int, database: str) -> dict[str, Any]:
    options = kit.Options(short=True, database="postgres" if scenario.postgres else database)
    results: list[Failover] = []
    inside: list[bool] = []
    with contextlib.ExitStack() as stack:
        place = stack.enter_context(kit.site(COUNTS, options, namespaces=scenario.namespaces))
        kit.start(place, SERVICE, "login", "queue")
        kit.wait_converged(place, [SERVICE])
        if scenario.hog:
            stack.enter_context(cpu_hog())
        stack.enter_context(write_load(place))
        for number in range(1, rounds + 1):
            old, _ = kit.master_of(place, SERVICE)
            survivor = kit.other_node(place, SERVICE, old)
            struck = time.monotonic()
            restore, caught = scenario.strike(place, old)
            if caught is not None:
                inside.append(caught)
            found = time_failover(place.cluster, SERVICE, old, survivor, struck, timeout=scenario.patience)
            results.append(found)
            print(
                f"{scenario.name} round {number}/{rounds}: new master after {_s(found.new_master_s)},"
                f" first write after {_s(found.first_write_s)}",
                flush=True,
            )
            restore()
            kit.wait_converged(place, [SERVICE], timeout=120)
    masters = [r.new_master_s for r in results if r.new_master_s is not None]
    writes = [r.first_write_s for r in results if r.first_write_s is not None]
    return {
        "database": options.database,
        "rounds": rounds,
        "new_master_s": summary(masters),
        "first_write_s": summary(writes),
        "rounds_without_write": rounds - len(writes),
        "struck_inside_a_transaction": f"{sum(inside)}/{len(inside)}" if inside else None,
    }


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}s"


def print_table(figures: dict[str, Any]) -> None:
    print(f"{'scenario':<11} {'db':<8} {'new master median / max':<26} {'first write median / max':<26} no write")
    for name, f in figures.items():
        if "skipped" in f:
            print(f"{name:<11} skipped: {f['skipped']}")
            continue
        m, w = f["new_master_s"], f["first_write_s"]
        print(f"{name:<11} {f['database']:<8} {_pair(m):<26} {_pair(w):<26} {f['rounds_without_write']}/{f['rounds']}")


def _pair(figure: dict[str, float]) -> str:
    return f"{figure['median']:.2f} / {figure['max']:.2f} s" if figure["count"] else "-"


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds: every scenario removes what it made on the way out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.bench failover", description=__doc__.split("\n")[1])
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="comma-separated, from: " + ", ".join(SCENARIOS)
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite", help="(dead-host: postgres)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    if unknown := [n for n in names if n not in SCENARIOS]:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    signal.signal(signal.SIGTERM, _exit_on_signal)
    figures: dict[str, Any] = {}
    for name in names:
        scenario = SCENARIOS[name]
        reason = _cannot_run(scenario)
        figures[name] = {"skipped": reason} if reason else run_scenario(scenario, args.rounds, args.database)
    print_table(figures)
    save(args.json, {"benchmark": "failover", "service": SERVICE, "scenarios": figures})
    return 0
