"""Catalogue: `GET /courses` against a trivial endpoint of the same node, and ledger writes/s.

    python -m ops.bench catalogue [--seconds 10] [--courses 200] [--enrollments 2000] [--json FILE]

(1) A login and a course_data node are started; `--courses` courses with meeting times
are created; then wrk measures `GET /health` (trivial) and `GET /courses?page_size=20`
(an authenticated search page) on the same node, one after the other, in one run.
(2) In this process, `--enrollments` enrollments go through the ledger's write path
(`Ledger.enroll`, one fenced SQLite transaction each, as the HTTP path does).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx

from cluster.settings import CourseSettings
from ops.bench.report import save
from ops.bench.wrk import run_wrk
from ops.localcluster import local_cluster
from services.course_data.ledger import Ledger
from storage.database import Database
from storage.migrations import migrate
from storage.schemas import MIGRATIONS
from storage.schemas.course_data import courses, windows

PASSWORD = "correct horse battery staple"
CONFIG = """[http]
log_level = "warning"
[redis]
private_port = 26391
[[nodes]]
id = "login-1"
service = "login"
http = "127.0.0.1:28012"
raft = "127.0.0.1:29012"
[[nodes]]
id = "course_data-1"
service = "course_data"
http = "127.0.0.1:28011"
raft = "127.0.0.1:29011"
"""


def admin_token(login: str, give_up_after: float = 120.0) -> str:
    """The seeded admin's token, its default password changed first. A refusal that changed
    nothing (a node still taking its lease answers 503 on a loaded machine) is sent again until
    `give_up_after`; an earlier try that did change the password is seen by the new one working."""
    deadline = time.monotonic() + give_up_after
    while True:
        for password in ("super123", PASSWORD):
            who = {"username": "super_admin", "password": password}
            first = httpx.post(f"{login}/auth/login", json=who, timeout=60)
            if first.status_code == 200 and password == PASSWORD:
                return str(first.json()["access_token"])
            if first.status_code == 200:
                auth = {"Authorization": f"Bearer {first.json()['access_token']}"}
                change = {"old_password": "super123", "new_password": PASSWORD}
                changed = httpx.post(f"{login}/auth/password", json=change, headers=auth, timeout=60)
                if changed.status_code == 200:
                    return str(changed.json()["access_token"])
                break
            if first.status_code != 401:
                break
        if time.monotonic() > deadline:
            raise RuntimeError(f"no admin token from {login}: {first.status_code} {first.text[:200]}")
        time.sleep(0.5)


def seed(url: str, token: str, count: int) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=auth, timeout=30) as client:
        for i in range(count):
            day, hour = i % 5, 8 + i % 10
            response = client.post(
                "/courses",
                json={
                    "code": f"C{i:04d}",
                    "title": f"Course {i}",
                    "department": ["CS", "Math", "Bio"][i % 3],
                    "credits": 1 + i % 5,
                    "capacity": 30,
                    "meetings": [{"weekday": day, "start": f"{hour:02d}:00", "end": f"{hour:02d}:50"}],
                },
            )
            response.raise_for_status()


async def ledger_writes(folder: Path, count: int) -> float:
    database = Database(f"sqlite+aiosqlite:///{folder / 'ledger.db'}")
    try:
        await migrate(database, MIGRATIONS["course_data"])
        now = time.time()
        async with database.write() as conn:
            for i in range(count // 20 + 1):
                await conn.execute(
                    courses.insert().values(code=f"L{i}", title="l", credits=1, capacity=20, taken=0, updated_at=now)
                )
            await conn.execute(
                windows.insert().values(opens_at=now - 60, closes_at=now + 3600, drop_deadline=now + 3600)
            )
        ledger = Ledger(lambda: CourseSettings(max_courses=30, max_credits=60))
        started = time.perf_counter()
        for i in range(count):
            async with database.write(fence=("course_data", 1)) as conn:
                decision = await ledger.enroll(conn, 1 + i // 20, None, 1 + i % (count // 20 + 1), "bench", now)
                assert decision.ok, decision
        return count / (time.perf_counter() - started)
    finally:
        await database.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.bench catalogue", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--courses", type=int, default=200)
    parser.add_argument("--enrollments", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cs-bench-catalogue-") as tmp:
        config = Path(tmp) / "catalogue.toml"
        config.write_text(CONFIG)
        with local_cluster(config, Path(tmp) / "data") as cluster:
            print("starting a login and a course_data node ...", flush=True)
            cluster.start_serving("login", "course_data")
            token = admin_token(cluster.url("login-1"))
            url = cluster.url("course_data-1")
            print(f"creating {args.courses} courses ...", flush=True)
            seed(url, token, args.courses)
            auth = {"Authorization": f"Bearer {token}"}
            print(f"GET /health for {args.seconds:.0f}s ...", flush=True)
            trivial = run_wrk(f"{url}/health", args.seconds, 32)
            print(f"GET /courses?page_size=20 for {args.seconds:.0f}s ...", flush=True)
            page = run_wrk(f"{url}/courses?page_size=20&department=CS", args.seconds, 32, headers=auth)
        print(f"{args.enrollments} enrollments through the ledger's write path ...", flush=True)
        writes = asyncio.run(ledger_writes(Path(tmp), args.enrollments))
    figures = {
        "benchmark": "catalogue",
        "courses": args.courses,
        "trivial_health_per_s": trivial["requests_per_s"],
        "courses_page_per_s": page["requests_per_s"],
        "courses_page_errors": page["non_2xx"],
        "page_to_trivial_ratio": round(page["requests_per_s"] / trivial["requests_per_s"], 3),
        "ledger_enrollments_per_s": round(writes, 1),
    }
    for key, value in figures.items():
        print(f"{key}: {value}")
    save(args.json, figures)
    return 0
