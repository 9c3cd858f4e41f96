"""Ledger: decisions/s and CPU per decision of the batch path on each database, in one run.

    python -m ops.bench ledger [--database sqlite,postgresql,mariadb] [--requests 3000]
        [--batch 500] [--rounds 3] [--postgresql-url URL] [--mariadb-url URL] [--json FILE]

In this process, `--requests` enrollments (distinct students, seats for all: every one is
accepted) are fed to the batch endpoint's functions (`decide_batch` then `full_courses`,
in one fenced write per batch of `--batch`) on a new database of each kind. The kinds
take turns, `--rounds` times (a round is one new database per kind), and the median round
is reported. A server the benchmark starts itself (PostgreSQL or MariaDB, as the tests
do) has its CPU time counted too; one given by URL has not. Ratios are against SQLite
measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from cluster.settings import CourseSettings
from ops.bench.report import save
from ops.dbservers import KINDS, cpu_seconds, create_database, database_servers
from services.course_data.batch import Queued, decide_batch, full_courses
from services.course_data.ledger import Ledger
from storage.database import Database
from storage.migrations import migrate
from storage.schemas import MIGRATIONS
from storage.schemas.course_data import courses, meetings, windows

COURSES = 40


async def seed(database: Database, requests: int, now: float) -> None:
    await migrate(database, MIGRATIONS["course_data"])
    async with database.write() as conn:
        await conn.execute(
            courses.insert(),
            [
                {
                    "id": i,
                    "code": f"B{i:03d}",
                    "title": f"Bench {i}",
                    "credits": 3,
                    "capacity": requests // COURSES + 1,
                    "taken": 0,
                    "updated_at": now,
                }
                for i in range(1, COURSES + 1)
            ],
        )
        await conn.execute(
            meetings.insert(),
            [
                {
                    "course_id": i,
                    "weekday": i % 5,
                    "start_minute": 480 + 60 * (i % 10),
                    "end_minute": 530 + 60 * (i % 10),
                }
                for i in range(1, COURSES + 1)
            ],
        )
        await conn.execute(windows.insert().values(opens_at=now - 60, closes_at=now + 3600, drop_deadline=now + 3600))


def batches(requests: int, size: int, first_student: int) -> Iterator[list[Queued]]:
    every = [
        Queued(uuid.uuid4().hex, "enroll", first_student + i, None, 1 + i % COURSES, None, "bench", float("inf"))
        for i in range(requests)
    ]
    for start in range(0, requests, size):
        yield every[start : start + size]


async def one_round(kind: str, url: str, pid: int | None, requests: int, size: int) -> dict[str, float]:
    database = Database(url)
    ledger = Ledger(lambda: CourseSettings())
    try:
        now = time.time()
        await seed(database, requests + size, now)

        async def decide(batch: list[Queued]) -> None:
            async with database.write(fence=("course_data", 1)) as conn:  # as POST /internal/ledger/batch
                decided = await decide_batch(conn, ledger, batch, time.time())
                await full_courses(conn, ledger, {r.course_id for r in batch})
            refused = [d for d in decided if d.decision.outcome != "accepted"]
            if refused:
                raise RuntimeError(f"{kind}: {len(refused)} not accepted, e.g. {refused[0]}")

        for warm in batches(size, size, 10_000_000):  # connections opened, statements cached
            await decide(warm)
        cpu, server, wall = time.process_time(), cpu_seconds(pid), time.perf_counter()
        for batch in batches(requests, size, 1):
            await decide(batch)
        wall, cpu, server = time.perf_counter() - wall, time.process_time() - cpu, cpu_seconds(pid) - server
    finally:
        await database.close()
    return {
        "decisions_per_s": requests / wall,
        "client_cpu_s_per_1000": 1000 * cpu / requests,
        "server_cpu_s_per_1000": 1000 * server / requests,
        "cpu_s_per_1000": 1000 * (cpu + server) / requests,
    }


def median_round(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(r[key] for r in rounds), 4) for key in rounds[0]}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.bench ledger", description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="sqlite,postgresql,mariadb", help=f"comma-separated: {', '.join(KINDS)}")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgresql-url", help="an existing server (no database in the URL); default: start one")
    parser.add_argument("--mariadb-url", help="an existing server, mysql+asyncmy:// (no database); default: start one")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.database.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        parser.error(f"--database: unknown {unknown}; choose among {', '.join(KINDS)}")
    if "sqlite" not in kinds:
        kinds.insert(0, "sqlite")  # the baseline of the ratios
    results: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="cs-bench-ledger-") as tmp:
        given = {"postgresql": args.postgresql_url, "mariadb": args.mariadb_url}
        servers = {
            kind: (server.url, server.pid or None) for kind, server in database_servers(stack, kinds, given).items()
        }
        for n in range(args.rounds):
            for kind in kinds:
                server, pid = servers.get(kind, (None, None))
                name = f"bench_{n}_{kind}_{uuid.uuid4().hex[:6]}"
                url = asyncio.run(create_database(kind, server, Path(tmp), name))
                figures = asyncio.run(one_round(kind, url, pid, args.requests, args.batch))
                results[kind].append(figures)
                print(
                    f"round {n + 1} {kind:10s} {figures['decisions_per_s']:8.0f} decisions/s  "
                    f"CPU {figures['cpu_s_per_1000']:.3f} s/1000 (server {figures['server_cpu_s_per_1000']:.3f})",
                    flush=True,
                )
    report: dict[str, Any] = {
        "benchmark": "ledger",
        "requests": args.requests,
        "batch": args.batch,
        "rounds": args.rounds,
        "databases": {},
    }
    base = median_round(results["sqlite"])
    for kind in kinds:
        figures = median_round(results[kind])
        figures["rate_vs_sqlite"] = round(figures["decisions_per_s"] / base["decisions_per_s"], 3)
        figures["cpu_vs_sqlite"] = round(figures["cpu_s_per_1000"] / base["cpu_s_per_1000"], 3)
        figures["server_cpu_measured"] = kind == "sqlite" or servers.get(kind, ("", None))[1] is not None
        report["databases"][kind] = figures
        print(
            f"{kind:10s} {figures['decisions_per_s']:8.0f} decisions/s ({figures['rate_vs_sqlite']:.2f}x SQLite)  "
            f"CPU {figures['cpu_s_per_1000']:.3f} s per 1000 ({figures['cpu_vs_sqlite']:.2f}x SQLite)"
        )
    save(args.json, report)
    return 0
