"""Login: logins/s through the service against raw bcrypt checks/s, and the cost of token checks.

    python -m ops.bench login [--seconds 10] [--json FILE]

In one run, on the same two cores: (1) raw bcrypt checks/s at the configured rounds,
with one thread per core, in this process while the service is idle; (2) logins/s
through a real login node (HTTP, JSON, throttling, session write, token signing) with
wrk as the load generator; their ratio is the service's overhead. Then (3) requests/s
of an unauthenticated endpoint against an authenticated one on the same node, and
(4) the verifier's cost per call, cold (signature check) and cached, in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import psutil

from cluster.settings import Settings
from ops.bench.report import save
from ops.bench.wrk import run_wrk
from ops.localcluster import LocalCluster, local_cluster, wait_for
from services.common.auth import TokenVerifier

PASSWORD = "correct horse battery staple"


def raw_bcrypt_rate(rounds: int, seconds: float) -> float:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds))
    threads = psutil.cpu_count() or 1
    deadline = time.perf_counter() + seconds

    def worker() -> int:
        done = 0
        while time.perf_counter() < deadline:
            bcrypt.checkpw(PASSWORD.encode(), hashed)
            done += 1
        return done

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(lambda _: worker(), range(threads)))
    return total / (time.perf_counter() - started)


def verifier_cost(jwks: dict[str, Any], token: str, calls: int = 2000) -> dict[str, float]:
    async def measure() -> dict[str, float]:
        async def keys() -> dict[str, Any]:
            return jwks

        cold = 0.0
        for _ in range(200):
            verifier = TokenVerifier(keys, lambda sid, now: False)
            await verifier.verify(token)  # fetches the keys once
            verifier._cache.clear()
            started = time.perf_counter()
            await verifier.verify(token)
            cold += time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(calls):
            await verifier.verify(token)
        cached = (time.perf_counter() - started) / calls
        return {"cold_us": round(cold / 200 * 1e6, 1), "cached_us": round(cached * 1e6, 2)}

    return asyncio.run(measure())


def prepare(cluster: LocalCluster) -> tuple[str, str]:
    url = cluster.url("login-1")
    wait_for(lambda: cluster.master("login", "login-1"), 30, "a login master")
    first = httpx.post(f"{url}/auth/login", json={"username": "super_admin", "password": "super123"}, timeout=30)
    auth = {"Authorization": f"Bearer {first.json()['access_token']}"}
    changed = httpx.post(
        f"{url}/auth/password", json={"old_password": "super123", "new_password": PASSWORD}, headers=auth, timeout=30
    ).json()
    return url, changed["access_token"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.bench login", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rounds = Settings().security.bcrypt_rounds
    with tempfile.TemporaryDirectory(prefix="cs-bench-login-") as tmp:
        config = Path(tmp) / "login.toml"
        config.write_text(
            '[http]\nlog_level = "warning"\n[redis]\nprivate_port = 26390\n'
            '[[nodes]]\nid = "login-1"\nservice = "login"\nhttp = "127.0.0.1:28002"\nraft = "127.0.0.1:29002"\n'
        )
        with local_cluster(config, Path(tmp) / "data") as cluster:
            print("starting a login node ...", flush=True)
            cluster.start()
            cluster.wait_ready()
            url, token = prepare(cluster)
            print(f"raw bcrypt, rounds {rounds}, {psutil.cpu_count()} threads, {args.seconds:.0f}s ...", flush=True)
            raw = raw_bcrypt_rate(rounds, args.seconds)
            print(f"logins through the service, {args.seconds:.0f}s ...", flush=True)
            logins = run_wrk(
                f"{url}/auth/login", args.seconds, 8, "POST", {"username": "super_admin", "password": PASSWORD}
            )
            print("unauthenticated vs authenticated requests ...", flush=True)
            plain = run_wrk(f"{url}/health", args.seconds, 32)
            authed = run_wrk(f"{url}/settings", args.seconds, 32, headers={"Authorization": f"Bearer {token}"})
            jwks = httpx.get(f"{url}/.well-known/jwks.json").json()
    verify = verifier_cost(jwks, token)
    figures = {
        "benchmark": "login",
        "bcrypt_rounds": rounds,
        "raw_bcrypt_checks_per_s": round(raw, 2),
        "logins_per_s": logins["requests_per_s"],
        "login_errors": logins["non_2xx"],
        "logins_to_raw_bcrypt_ratio": round(logins["requests_per_s"] / raw, 3),
        "unauthenticated_health_per_s": plain["requests_per_s"],
        "authenticated_settings_per_s": authed["requests_per_s"],
        "authenticated_errors": authed["non_2xx"],
        "extra_us_per_authenticated_request": round(1e6 / authed["requests_per_s"] - 1e6 / plain["requests_per_s"], 1),
        "verifier_cold_us": verify["cold_us"],
        "verifier_cached_us": verify["cached_us"],
    }
    for key, value in figures.items():
        print(f"{key}: {value}")
    save(args.json, figures)
    return 0
