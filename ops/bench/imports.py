"""Imports: rows/s and total time of the CSV import jobs, through the API of a local cluster.

    python -m ops.bench import [--students 30000] [--courses 10000] [--completed 50000] [--json FILE]

Two login nodes and two course_data nodes are started. Each import is one `POST` of the
whole file (answered 202 at once), then its job is polled until it has finished. Figures
per import: total time (POST to `succeeded`), rows/s, the time of each phase, and whether
the service's master changed meanwhile (epochs before and after, and every change seen
while polling); also the slowest `GET /health` of the master while the import ran (its
event loop's responsiveness). Students get no password (set-password tokens by email,
logged here: no email is configured), so no bcrypt runs at import; `--with-passwords N`
then imports N students whose rows give a password (hashed in the worker at the configured
cost: the bound on such files).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from ops.bench.catalogue import admin_token
from ops.bench.report import save
from ops.localcluster import LocalCluster, local_cluster

CONFIG = """[http]
log_level = "warning"
[redis]
private_port = 26393
[[nodes]]
id = "login-1"
service = "login"
http = "127.0.0.1:28031"
raft = "127.0.0.1:29031"
[[nodes]]
id = "login-2"
service = "login"
http = "127.0.0.1:28032"
raft = "127.0.0.1:29032"
[[nodes]]
id = "course_data-1"
service = "course_data"
http = "127.0.0.1:28033"
raft = "127.0.0.1:29033"
[[nodes]]
id = "course_data-2"
service = "course_data"
http = "127.0.0.1:28034"
raft = "127.0.0.1:29034"
"""


def students_csv(count: int, prefix: str = "s", password: str = "") -> bytes:
    lines = ["username,role,full_name,email,student_number,cohort,password"]
    for i in range(count):
        name = f"{prefix}{i:06d}"
        lines.append(f"{name},student,Student {i},{name}@uni.example,{name.upper()},{2023 + i % 4},{password}")
    return ("\n".join(lines) + "\n").encode()


def with_passwords(count: int) -> bytes:
    return students_csv(count, "p", "correct horse battery staple")


def courses_csv(count: int) -> bytes:
    lines = ["code,title,department,credits,capacity,meetings,prerequisites"]
    for i in range(count):
        day, hour = ("Mon", "Tue", "Wed", "Thu", "Fri")[i % 5], 8 + i % 10
        needs = f"K{i - 1:05d}" if i % 7 == 6 else ""
        lines.append(
            f"K{i:05d},Course {i},Dept {i % 20},{1 + i % 5},{20 + i % 200},{day} {hour:02d}:00-{hour:02d}:50,{needs}"
        )
    return ("\n".join(lines) + "\n").encode()


def completed_csv(count: int) -> bytes:
    # Students named by their student numbers (from students_csv): each is looked up in login.
    lines = ["student_id,course_code"] + [f"S{i // 5:06d},K{i % 5000:05d}" for i in range(count)]
    return ("\n".join(lines) + "\n").encode()


def run_import(cluster: LocalCluster, service: str, path: str, body: bytes, rows: int, token: str) -> dict[str, Any]:
    """POST the file to a node of `service`, poll its job on the other node, watch the master."""
    first, second = [n.id for n in cluster.config.nodes if n.service == service][:2]
    before = cluster.master(service, first)
    assert before is not None
    auth = {"Authorization": f"Bearer {token}"}
    epochs = {before[1]}
    phases: dict[str, float] = {}
    slowest_health = 0.0
    started = time.perf_counter()
    answer = httpx.post(
        cluster.url(first) + path, content=body, headers={**auth, "content-type": "text/csv"}, timeout=60
    )
    accepted = time.perf_counter() - started
    answer.raise_for_status()
    url = cluster.url(second) + answer.headers["location"]  # any node reads the job
    master_url = cluster.url(before[0])
    with httpx.Client(headers=auth, timeout=30) as client:
        while True:
            probe = time.perf_counter()
            client.get(master_url + "/health")
            slowest_health = max(slowest_health, time.perf_counter() - probe)
            job = client.get(url).json()
            phase = job["progress"]["phase"]
            phases.setdefault(phase, round(time.perf_counter() - started, 2))
            seen = cluster.master(service, first)
            if seen is not None:
                epochs.add(seen[1])
            if job["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.2)
    total = time.perf_counter() - started
    after = cluster.master(service, first)
    step_downs = [
        f"{n.id}: {line[:300]}"
        for n in cluster.config.nodes
        if n.service == service
        for line in cluster.log_text(n.id).splitlines()
        if "stepping down" in line or "became master" in line
    ]
    if job["status"] != "succeeded":
        raise RuntimeError(f"the {path} job failed: {job['detail']} {job['errors'][:5]}")
    return {
        "rows": rows,
        "file_bytes": len(body),
        "accepted_s": round(accepted, 3),
        "total_s": round(total, 2),
        "rows_per_s": round(rows / total, 1),
        "phase_started_at_s": phases,
        "master_before": list(before),
        "master_after": list(after) if after else None,
        "epochs_seen": sorted(epochs),
        "master_changed": after != before or len(epochs) > 1,
        "slowest_master_health_s": round(slowest_health, 3),
        "lease_log": step_downs,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.bench import", description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=30_000)
    parser.add_argument("--courses", type=int, default=10_000)
    parser.add_argument("--completed", type=int, default=50_000)
    parser.add_argument("--with-passwords", type=int, default=0, help="then N students whose rows give a password")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {"benchmark": "import"}
    with tempfile.TemporaryDirectory(prefix="cs-bench-import-") as tmp:
        config = Path(tmp) / "import.toml"
        config.write_text(CONFIG)
        with local_cluster(config, Path(tmp) / "data") as cluster:
            print("starting two login and two course_data nodes ...", flush=True)
            cluster.start_serving("login", "course_data")
            token = admin_token(cluster.url("login-1"))
            plan = [
                ("students", "login", "/users/import", students_csv, args.students),
                ("courses", "course_data", "/courses/import", courses_csv, args.courses),
                ("completed", "course_data", "/completed/import", completed_csv, args.completed),
                ("students_with_passwords", "login", "/users/import", with_passwords, args.with_passwords),
            ]
            for name, service, path, make, rows in plan:
                if rows <= 0:
                    continue
                print(f"importing {rows} {name} ({path}) ...", flush=True)
                figures[name] = result = run_import(cluster, service, path, make(rows), rows, token)
                print(
                    f"  {result['total_s']} s, {result['rows_per_s']} rows/s, "
                    f"master changed: {result['master_changed']}, epochs seen: {result['epochs_seen']}",
                    flush=True,
                )
    for key, value in figures.items():
        print(f"{key}: {value}")
    save(args.json, figures)
    return 0
