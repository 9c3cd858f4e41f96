"""The registration rush: admission and decision rates, time to outcome, and the checks.

    python -m ops.bench rush [--database sqlite,postgresql,mariadb] [--students 2000] [--courses 5]
        [--seats 100] [--per-student 3] [--connections 64] [--cold] [--postgresql-url URL]
        [--mariadb-url URL] [--redis-url URL] [--plans] [--alternatives 1] [--sections] [--rounds 1]
        [--batch-size N] [--json FILE]

A login, a course_data and a queue node are started (one node each). Each kind of
`--database` gets a run of its own, back to back, on new databases (one per service: a
SQLite file, or a database created on a PostgreSQL or MariaDB server that the benchmark
starts as the test suite does, or on the server given by `--postgresql-url` /
`--mariadb-url`, a URL without a database name). Redis is a private redis-server, or the
one at `--redis-url`, whose database is emptied (FLUSHDB) before each run: give the
benchmark a database of its own. With several kinds, the decision rate and the CPU per
decision are also given as ratios to the first kind (SQLite by default), in each round
(`--rounds`: each round runs every kind once, in turn, its first kind rotating from round
to round, so that a change of the machine's load falls on every kind alike); with several
rounds each figure and each ratio is the median over the rounds (a ratio's median is that
of the ratios measured within one round, not the ratio of the medians).
`--courses` courses of `--seats` seats are created and registration is opened; every
student gets a token signed directly with the login key (no bcrypt logins) and asks for
`--per-student` of the courses, all requests shuffled. Before the rush each student
opens the waiting room once (`GET /queue/opening`), as they would while waiting for the
opening, which also gets their token verified and cached (`--cold` skips it). wrk
(Debian package `wrk`) sends each request once over `--connections` connections: to a
trivial Starlette endpoint that parses the same JSON body, then to `POST /queue/requests`,
then to the trivial endpoint again (the baseline is the mean of the two runs: this
machine is shared and its speed drifts).
Rates are measured by the servers' own clocks (first to last admission); time to outcome
is from admission to decision as the queue recorded them. With `--plans`, each kind also
gets a plan rush after its plain one, on new databases, with a student node: every student
saves a plan before the opening (`--per-student` items, each with up to `--alternatives`
of the other courses), then wrk sends each student's `POST /student/plan/submit` once; its
figures are given as ratios to the plain rush of the same run (`plans` in the JSON). With
`--sections`, each kind also gets a sections rush after its plain one, on new databases:
each of the `--courses` offerings is a lecture of `--seats` seats and two labs sharing them
(the first linked to the lecture), and each student asks for `--per-student` offerings, each
as a section group (`{"action": "enroll", "section_ids": [lecture, lab]}`, a lab chosen at
random) through `POST /queue/requests`; its figures and checks (a lab held without its lecture
among them) are given with ratios to the plain rush of the same run (`sections` in the JSON).
CPU per decision is counted
from the rush's start until every admitted request is decided: the ledger's (the
course_data node and the database server, when the benchmark started it; the server's
share is also given apart) and the
whole system's (every node, Redis and the database server).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import redis

from cluster.settings import QueueSettings
from ops.bench.catalogue import admin_token
from ops.bench.report import save
from ops.bench.wrk import require_wrk
from ops.dbservers import KINDS, Server, cpu_seconds, create_database, database_servers, free_loopback_port
from ops.localcluster import LocalCluster, local_cluster, wait_for
from ops.rush import Prepared, counters, create_courses, create_offerings, plan, plan_groups, report
from ops.rush_plans import follow, plans_answered, plans_told, prepare_plans, save_plans

LUA = Path(__file__).with_name("rush.lua")
SERVICES = ("login", "course_data", "queue")


def cluster_config(redis_url: str, databases: dict[str, str], services: tuple[str, ...] = SERVICES) -> str:
    """One node per service on free loopback ports, with its database and Redis."""
    lines = ["[http]", 'log_level = "warning"', "[redis]"]
    lines.append(f'url = "{redis_url}"' if redis_url else f"private_port = {free_loopback_port()}")
    for service, url in databases.items():
        lines += [f"[services.{service}]", f'database_url = "{url}"']
    for service in services:
        lines += [
            "[[nodes]]",
            f'id = "{service}-1"',
            f'service = "{service}"',
            f'http = "127.0.0.1:{free_loopback_port()}"',
            f'raft = "127.0.0.1:{free_loopback_port()}"',
        ]
    return "\n".join(lines) + "\n"


def fire(
    url: str,
    requests_file: Path,
    total: int,
    connections: int,
    served: Any,
    path: str = "/queue/requests",
    idle_seconds: float = 3.0,
) -> dict[str, Any]:
    """Send every prepared request once with wrk; stop it when the server has answered them all,
    or none more for `idle_seconds` (some were refused)."""
    command = [require_wrk(), "-t1", f"-c{connections}", "-d120s", "-s", str(LUA), url, "--", str(requests_file), "1"]
    command.append(path)
    process = psutil.Popen(command, stdout=subprocess.PIPE, text=True)
    started = time.monotonic()
    last, still_since = -1, time.monotonic()
    while time.monotonic() - started < 115:
        count = served()
        if count >= total:
            break
        if count != last:
            last, still_since = count, time.monotonic()
        elif time.monotonic() - still_since > idle_seconds:
            break  # nothing more arrives (some requests were refused)
        time.sleep(0.05)
    time.sleep(0.5)  # the last answers reach wrk
    cpu = process.cpu_times()
    wall = time.monotonic() - started
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=30)
    statuses = {m[0]: int(m[1]) for m in re.findall(r"status (\d+) (\d+)", out)}
    return {"statuses": statuses, "wrk_cpu_share_of_a_core": round((cpu.user + cpu.system) / wall, 3)}


def trivial_rate(requests_file: Path, total: int, connections: int) -> dict[str, Any]:
    port = free_loopback_port()
    server = subprocess.Popen([sys.executable, "-m", "ops.bench.trivial", str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{base}/health").status_code == 200, 20, "the trivial endpoint")
        count = lambda: httpx.get(f"{base}/count", timeout=60).json()  # noqa: E731  # (a loaded host is slow)
        load = fire(base, requests_file, total, connections, lambda: count()["count"])
        seen = count()
    finally:
        server.terminate()
        server.wait(10)
    return {**load, "per_s": round(seen["count"] / max(1e-6, seen["last"] - seen["first"]), 1)}


async def waiting_room(url: str, tokens: list[str], connections: int) -> None:
    """Every student opens the waiting page once before registration opens (GET /queue/opening)."""
    gate = asyncio.Semaphore(connections)
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:

        async def one(token: str) -> None:
            async with gate:
                (await client.get("/queue/opening", headers={"Authorization": f"Bearer {token}"})).raise_for_status()

        await asyncio.gather(*(one(t) for t in tokens))


def answered(redis_url: str) -> int:
    """Requests admission answered for good: admitted, or refused at once."""
    admitted, _, refused = counters(redis_url)
    return admitted + refused


def drained(redis_url: str, idle_seconds: float = 60.0) -> None:
    """Wait until every admitted request is decided; raise if none is decided for `idle_seconds`
    (the decider is stuck), however long the draining takes while it goes on."""
    last, since = -1, time.monotonic()
    while True:
        admitted, decided, _ = counters(redis_url)
        if decided >= admitted:
            return
        if decided != last:
            last, since = decided, time.monotonic()
        elif time.monotonic() - since > idle_seconds:
            raise TimeoutError(f"no decision for {idle_seconds:g} s: {decided} of {admitted} decided")
        time.sleep(0.2)


def write_requests(path: Path, prepared: list[Prepared]) -> None:
    path.write_text("".join(f"{p.token}\t{p.key}\t{p.body}\n" for p in prepared))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.bench rush", description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="sqlite", help=f"comma-separated, run back to back: {', '.join(KINDS)}")
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--courses", type=int, default=5)
    parser.add_argument("--seats", type=int, default=100, help="per course (2000: every request queued and decided)")
    parser.add_argument("--per-student", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--cold", action="store_true", help="skip the waiting room: tokens first seen in the rush")
    parser.add_argument("--postgresql-url", help="an existing server (no database in the URL); default: start one")
    parser.add_argument("--mariadb-url", help="an existing server, mysql+asyncmy:// (no database); default: start one")
    parser.add_argument("--redis-url", help="an external Redis, emptied before each run; default: a private one")
    parser.add_argument("--plans", action="store_true", help="also a plan rush per kind (POST /student/plan/submit)")
    parser.add_argument("--alternatives", type=int, default=1, help="with --plans: alternatives per plan item")
    parser.add_argument(
        "--sections", action="store_true", help="also a rush of section groups per kind (a lecture and a lab each)"
    )
    parser.add_argument("--batch-size", type=int, help="the queue's batch_size setting (default: the setting's own)")
    parser.add_argument("--rounds", type=int, default=1, help="each kind once per round, in turn; medians reported")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.database.split(",") if k.strip()]
    if not kinds or set(kinds) - set(KINDS) or len(set(kinds)) != len(kinds):
        parser.error(f"--database: a comma-separated list of distinct kinds among {', '.join(KINDS)}")
    if args.rounds < 1:
        parser.error("--rounds: at least 1")
    require_wrk()
    rounds: list[dict[str, dict[str, Any]]] = []
    with ExitStack() as stack:
        given = {"postgresql": args.postgresql_url, "mariadb": args.mariadb_url}
        servers = database_servers(stack, kinds, given)
        for n in range(args.rounds):
            order = kinds[n % len(kinds) :] + kinds[: n % len(kinds)]
            runs: dict[str, dict[str, Any]] = {}
            for kind in order:
                print(f"--- round {n + 1} of {args.rounds}: the rush on {kind} ---", flush=True)
                runs[kind] = one_rush(args, kind, servers.get(kind))
                if args.plans:
                    print(f"--- round {n + 1} of {args.rounds}: the plan rush on {kind} ---", flush=True)
                    runs[kind]["plans"] = plan_rush(args, kind, servers.get(kind), runs[kind])
                if args.sections:
                    print(f"--- round {n + 1} of {args.rounds}: the sections rush on {kind} ---", flush=True)
                    runs[kind]["sections"] = sections_rush(args, kind, servers.get(kind), runs[kind])
            rounds.append({kind: with_ratios(runs[kind], runs[kinds[0]]) for kind in kinds})
            if len(kinds) > 1:
                print_ratios(f"round {n + 1}", kinds, rounds[-1])
            if n + 1 < args.rounds:  # (the rounds so far are kept if a later one fails)
                save(args.json, {"benchmark": "rush", "rounds": rounds, "order": kinds, "unfinished": True})
    for kind, figures in rounds[-1].items() if len(rounds) == 1 else ():
        print(f"--- {kind} ---")
        for key, value in figures.items():
            print(f"{key}: {value}")
        if "plans" in figures:
            ratio = figures["plans"]["vs_plain"]
            print(
                f"plans against the plain rush on {kind}: decided/s {ratio['decided_per_s']:.2f}x, "
                f"admitted/s {ratio['admitted_per_s']:.2f}x, p99 to outcome {ratio['outcome_p99_s']:.2f}x, "
                f"CPU per decision {ratio['total_cpu_per_decision']:.2f}x"
            )
        if "sections" in figures:
            groups = figures["sections"]
            ratio = groups["vs_plain"]
            print(
                f"sections against the plain rush on {kind}: decided/s {groups['decided_per_s']:.0f} against "
                f"{figures['decided_per_s']:.0f} ({ratio['decided_per_s']:.2f}x), admitted/s "
                f"{ratio['admitted_per_s']:.2f}x, p99 to outcome {ratio['outcome_p99_s']:.2f}x, "
                f"CPU per decision {ratio['total_cpu_per_decision']:.2f}x"
            )
    medians = {kind: median_figures([r[kind] for r in rounds]) for kind in kinds}
    if len(kinds) > 1:
        print_ratios(f"median of {len(rounds)} round(s)", kinds, medians)
    failed = [
        (n + 1, kind)
        for n, r in enumerate(rounds)
        for kind, f in r.items()
        if any(any(c.values()) for c in (f["checks"], *(f[p]["checks"] for p in ("plans", "sections") if p in f)))
    ]
    for n, kind in failed:
        print(f"round {n} on {kind}: checks not all 0: {rounds[n - 1][kind]['checks']}")
    if len(kinds) == 1 and len(rounds) == 1:
        save(args.json, rounds[0][kinds[0]])
    else:
        save(args.json, {"benchmark": "rush", "rounds": rounds, "medians": medians, "order": kinds})
    return 1 if failed else 0


RATIOS = {
    "decided_per_s_vs_first": "decided_per_s",
    "ledger_cpu_vs_first": "ledger_cpu_s_per_1000_decisions",
    "total_cpu_vs_first": "total_cpu_s_per_1000_decisions",
}


def with_ratios(figures: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """`figures` with its rate and CPU per decision as ratios to `base`'s, of the same round."""
    ratios = {name: round(figures[key] / max(1e-6, base[key]), 3) for name, key in RATIOS.items()}
    return {**figures, **ratios}


def median_figures(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Each number's median over the rounds (the checks: their sum, as every one must be 0)."""
    numbers = [k for k, v in rounds[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    medians: dict[str, Any] = {k: round(statistics.median(r[k] for r in rounds), 4) for k in numbers}
    medians["rounds"] = len(rounds)
    medians["decided_per_s_vs_first_per_round"] = [r["decided_per_s_vs_first"] for r in rounds]
    medians["checks"] = {k: sum(r["checks"][k] for r in rounds) for k in rounds[0]["checks"]}
    return medians


def print_ratios(title: str, kinds: list[str], figures: dict[str, dict[str, Any]]) -> None:
    print(f"--- {title}, against {kinds[0]} (decisions/s; CPU per decision, ledger and total) ---", flush=True)
    for kind in kinds:
        f = figures[kind]
        print(
            f"{kind:10s} {f['decided_per_s']:8.0f}/s ({f['decided_per_s_vs_first']:.2f}x)  "
            f"ledger CPU {f['ledger_cpu_s_per_1000_decisions']:.3f} s/1000 "
            f"({f['ledger_cpu_vs_first']:.2f}x; its server {f['database_server_cpu_s_per_1000_decisions']:.3f})  "
            f"total CPU {f['total_cpu_s_per_1000_decisions']:.3f} "
            f"s/1000 ({f['total_cpu_vs_first']:.2f}x)  p99 to outcome {f['outcome_p99_s']:.2f} s",
            flush=True,
        )


def one_rush(args: argparse.Namespace, kind: str, server: Server | None, sections: bool = False) -> dict[str, Any]:
    """One rush on new databases of `kind` (with `sections`, of section groups); its figures and checks."""
    name = "sections" if sections else "rush"
    with rush_cluster(args, kind, server, SERVICES, name, courses=not sections) as (cluster, tmp, admin, course_ids):
        if sections:
            offerings = create_offerings(cluster.url("course_data-1"), admin, args.courses, args.seats)
            prepared = plan_groups(cluster.config, args.students, offerings, args.per_student)
        else:
            prepared = plan(cluster.config, args.students, course_ids, args.per_student)
        requests_file = tmp / "requests.tsv"
        write_requests(requests_file, prepared)
        total = len(prepared)
        print(f"{total} requests from {args.students} students; baseline: the trivial endpoint ...", flush=True)
        baseline = trivial_rate(requests_file, total, args.connections)
        if not args.cold:
            print("the students wait in the waiting room (GET /queue/opening) ...", flush=True)
            tokens = list({p.student_id: p.token for p in prepared}.values())
            asyncio.run(waiting_room(cluster.url("queue-1"), tokens, args.connections))
        redis_url = args.redis_url or (cluster.redis.url if cluster.redis else "")
        db_pid = server.pid if server else 0
        ledger_pids = [cluster.processes["course_data-1"].pid, db_pid]
        all_pids = [*(p.pid for p in cluster.processes.values()), db_pid, redis_pid(cluster)]
        ledger_cpu, total_cpu, server_cpu = cpu_seconds(*ledger_pids), cpu_seconds(*all_pids), cpu_seconds(db_pid)
        print("the rush: POST /queue/requests ...", flush=True)
        load_average = [os.getloadavg()[0]]
        load = fire(cluster.url("queue-1"), requests_file, total, args.connections, lambda: answered(redis_url))
        drained(redis_url)
        ledger_cpu, total_cpu = cpu_seconds(*ledger_pids) - ledger_cpu, cpu_seconds(*all_pids) - total_cpu
        server_cpu = cpu_seconds(db_pid) - server_cpu
        load_average.append(os.getloadavg()[0])
        print("the trivial endpoint again ...", flush=True)
        after = trivial_rate(requests_file, total, args.connections)
        found = report(redis_url, cluster.config.database_url("course_data"))
        consumer = httpx.get(f"{cluster.url('queue-1')}/queue/stats", headers=admin, timeout=60).json()["consumer"]
    decided = max(1, consumer["decided"])
    figures = {
        "benchmark": "rush",
        "database": kind,
        "server_cpu_measured": kind == "sqlite" or bool(server and server.pid),
        "students": args.students,
        "courses": args.courses,
        "seats": args.seats,
        "requests": total,
        "section_groups": sections,
        "tokens_seen_before_the_rush": not args.cold,
        "trivial_per_s": round((baseline["per_s"] + after["per_s"]) / 2, 1),
        "trivial_before_and_after_per_s": [baseline["per_s"], after["per_s"]],
        "answered_per_s": found["answered_per_s"],
        "answered_to_trivial_ratio": round(2 * found["answered_per_s"] / (baseline["per_s"] + after["per_s"]), 3),
        "admitted": found["admitted"],
        "refused_at_once": found["refused_at_once"],
        "admitted_per_s": found["admitted_per_s"],
        "admitted_to_trivial_ratio": round(2 * found["admitted_per_s"] / (baseline["per_s"] + after["per_s"]), 3),
        "decided_per_s": found["decided_per_s"],
        "ledger_cpu_s_per_1000_decisions": round(1000 * ledger_cpu / decided, 4),
        "database_server_cpu_s_per_1000_decisions": round(1000 * server_cpu / decided, 4),
        "total_cpu_s_per_1000_decisions": round(1000 * total_cpu / decided, 4),
        "outcome_p50_s": found["outcome_p50_s"],
        "outcome_p99_s": found["outcome_p99_s"],
        "drained_after_last_admission_s": found["drained_after_last_admission_s"],
        "batch_size_setting": args.batch_size or QueueSettings().batch_size,
        "ledger_batches": consumer["batches"],
        "mean_batch": round(consumer["decided"] / max(1, consumer["batches"]), 1),
        "http_statuses": load["statuses"],
        "wrk_cpu_share_of_a_core": {
            "trivial": baseline["wrk_cpu_share_of_a_core"],
            "rush": load["wrk_cpu_share_of_a_core"],
        },
        "load_average_before_and_after": [round(x, 2) for x in load_average],
        "outcomes": found["outcomes"],
        "checks": found["checks"],
    }
    return figures


@contextmanager
def rush_cluster(
    args: argparse.Namespace,
    kind: str,
    server: Server | None,
    services: tuple[str, ...],
    name: str,
    courses: bool = True,
) -> Iterator[tuple[LocalCluster, Path, dict[str, str], list[int]]]:
    """A rush's cluster, as every variant starts it: new databases of `kind` (one per service),
    Redis emptied, one node per service in `services`, the rate limit raised, `--courses`
    courses of `--seats` seats with registration open (not with `courses` false: the caller
    makes its own). Yields the cluster, its temporary directory, an admin's headers and the
    course ids; stops every process at the end."""
    with tempfile.TemporaryDirectory(prefix=f"cs-bench-{name}-") as tmp:
        tag = uuid.uuid4().hex[:8]
        databases = {
            service: asyncio.run(
                create_database(kind, server.url if server else None, Path(tmp), f"{name}_{tag}_{service}")
            )
            for service in SERVICES
        }
        if args.redis_url:
            with redis.Redis.from_url(args.redis_url) as client:
                client.flushdb()
        config = Path(tmp) / f"{name}.toml"
        config.write_text(cluster_config(args.redis_url or "", databases, services))
        with local_cluster(config, Path(tmp) / "data") as cluster:
            print(f"starting a node of each of {', '.join(services)} ...", flush=True)
            serving(cluster, services)
            login = cluster.url("login-1")
            admin = {"Authorization": f"Bearer {admin_token(login)}"}
            rules: dict[str, Any] = {"queue": {"student_rate_limit": "1000 per minute"}}
            if args.batch_size:
                rules["queue"]["batch_size"] = args.batch_size
            httpx.patch(f"{login}/settings", json=rules, headers=admin, timeout=120).raise_for_status()
            course_ids = []
            if courses:
                print(f"creating {args.courses} courses of {args.seats} seats, opening registration ...", flush=True)
                course_ids = create_courses(cluster.url("course_data-1"), admin, args.courses, args.seats)
            yield cluster, Path(tmp), admin, course_ids


def serving(cluster: LocalCluster, services: tuple[str, ...]) -> None:
    """Start every node and wait until each is ready and each service has a master (with a
    longer wait than `start_serving`'s: on a saturated machine a node can take minutes)."""
    cluster.start()
    cluster.wait_ready(timeout=300)
    for service in services:
        wait_for(lambda s=service: cluster.master(s, "login-1"), 120, f"a {service} master")


def redis_pid(cluster: LocalCluster) -> int:
    """The private redis-server's pid (0: an external Redis, not counted)."""
    process = cluster.redis.process if cluster.redis is not None else None
    return process.pid if process is not None else 0


def plan_rush(args: argparse.Namespace, kind: str, server: Server | None, plain: dict[str, Any]) -> dict[str, Any]:
    """The plan variant on new databases of `kind`: plans saved, then submitted at once; its
    figures, with ratios to the plain rush `plain` of the same run."""
    with rush_cluster(args, kind, server, (*SERVICES, "student"), "plans") as (cluster, tmp, admin, course_ids):
        plans = prepare_plans(cluster.config, args.students, course_ids, args.per_student, args.alternatives)
        student = cluster.url("student-1")
        print(f"{len(plans)} students save their plans (PUT /student/plan) ...", flush=True)
        asyncio.run(save_plans(student, plans, 8, give_up_after=300))
        if not args.cold:
            asyncio.run(waiting_room(cluster.url("queue-1"), [p.token for p in plans], args.connections))
        requests_file = tmp / "plans.tsv"
        requests_file.write_text("".join(f"{p.token}\t{p.key}\t{{}}\n" for p in plans))
        redis_url = args.redis_url or (cluster.redis.url if cluster.redis else "")
        db_pid = server.pid if server else 0
        all_pids = [*(p.pid for p in cluster.processes.values()), db_pid, redis_pid(cluster)]
        total_cpu = cpu_seconds(*all_pids)
        print("the plan rush: POST /student/plan/submit ...", flush=True)
        load = fire(
            student,
            requests_file,
            len(plans),
            args.connections,
            lambda: plans_answered(redis_url),
            "/student/plan/submit",
            idle_seconds=15,  # each answer takes an internal call or two: on a saturated host, pauses of seconds
        )
        wait_for(lambda: (c := counters(redis_url))[0] == c[1], 300, "every admitted request decided")
        total_cpu = cpu_seconds(*all_pids) - total_cpu
        found = report(redis_url, cluster.config.database_url("course_data"))
        told = plans_told(redis_url)
        items = follow(redis_url, told)
        consumer = httpx.get(f"{cluster.url('queue-1')}/queue/stats", headers=admin, timeout=60).json()["consumer"]
        times = {k.decode(): float(v) for k, v in redis.Redis.from_url(redis_url).hgetall("q:times").items()}
    decided = max(1, consumer["decided"])
    span = max(1e-6, times.get("last", 0.0) - times.get("first", 0.0))
    figures: dict[str, Any] = {
        "plans": len(plans),
        "plans_answered": len(told.items) + len(told.refused),
        "items": items["items"],
        "alternatives_per_item": args.alternatives,
        "plans_per_s": round(len(told.items) / span, 1),
        "requests_admitted": found["admitted"],
        "fallbacks": items["fallbacks"],
        "refused_at_once": found["refused_at_once"],
        "admitted_per_s": found["admitted_per_s"],
        "decided_per_s": found["decided_per_s"],
        "total_cpu_s_per_1000_decisions": round(1000 * total_cpu / decided, 4),
        "outcome_p50_s": found["outcome_p50_s"],
        "outcome_p99_s": found["outcome_p99_s"],
        "drained_after_last_admission_s": found["drained_after_last_admission_s"],
        "item_ends": items["ends"],
        "http_statuses": load["statuses"],
        "checks": {**found["checks"], **items["checks"]},
    }
    figures["vs_plain"] = vs_plain(figures, plain)
    return figures


VS_PLAIN = {
    "decided_per_s": "decided_per_s",
    "admitted_per_s": "admitted_per_s",
    "outcome_p99_s": "outcome_p99_s",
    "total_cpu_per_decision": "total_cpu_s_per_1000_decisions",
}


def vs_plain(figures: dict[str, Any], plain: dict[str, Any]) -> dict[str, float]:
    """A variant's rate, time to outcome and CPU per decision as ratios to the plain rush's."""
    return {name: round(figures[key] / max(1e-6, plain[key]), 3) for name, key in VS_PLAIN.items()}


def sections_rush(args: argparse.Namespace, kind: str, server: Server | None, plain: dict[str, Any]) -> dict[str, Any]:
    """The sections variant on new databases of `kind`: every request a section group (a lecture
    and a lab); its figures and checks, with ratios to the plain rush `plain` of the same run."""
    figures = one_rush(args, kind, server, sections=True)
    figures["vs_plain"] = vs_plain(figures, plain)
    return figures
