"""Console: how long each view of the web console takes to show, on a cluster at rest.

    python -m ops.bench console [--rounds 5] [--json FILE]

A cluster of one node per service is started on free ports, with a few courses and an
open window. Headless Chromium (Debian's `/usr/bin/chromium`, driven by Playwright) opens
the page cold (`page`: from navigation to the sign-in form, every module and the chart
library loaded), signs in as the admin and as a student, and opens each of their views
`--rounds` times: from the click on its link until its section is shown and no call the
view made is still in flight. The baseline is one call through the gateway from the
same page (`GET /api/login/health`), measured in the same run: a view's ratio says how
many such round trips it costs. The budget is 1 s per view.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from ops.bench.report import save, summary
from ops.drill.layout import cluster_toml
from ops.localcluster import local_cluster, wait_for

PASSWORD = "correct horse battery staple"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Counts the page's calls in flight, so a view is "shown" once all it asked for has come back.
INFLIGHT = """
window.__inflight = 0;
const sent = window.fetch.bind(window);
window.fetch = async (...args) => {
  window.__inflight++;
  try { return await sent(...args); } finally { window.__inflight--; }
};
"""
ADMIN_VIEWS = ("status", "opening", "outbox", "settings", "courses", "imports", "windows", "desk", "records")
STUDENT_VIEWS = ("catalogue", "mine", "timetable", "plan")


def prepare(login: str, course_data: str) -> None:
    first = httpx.post(f"{login}/auth/login", json={"username": "admin", "password": "admin123"}, timeout=30).json()
    auth = {"Authorization": f"Bearer {first['access_token']}"}
    changed = httpx.post(
        f"{login}/auth/password", json={"old_password": "admin123", "new_password": PASSWORD}, headers=auth, timeout=30
    ).json()
    auth = {"Authorization": f"Bearer {changed['access_token']}"}
    student = {"username": "bench", "role": "student", "password": PASSWORD, "must_change_password": False}
    httpx.post(f"{login}/users", json=student, headers=auth, timeout=30).raise_for_status()
    now = time.time()
    windows = {"windows": [{"opens_at": now - 60, "closes_at": now + 3600, "drop_deadline": now + 7200}]}
    httpx.put(f"{course_data}/windows", json=windows, headers=auth, timeout=30).raise_for_status()
    for i in range(30):
        meeting = {"weekday": i % 5, "start": f"{8 + i % 8:02d}:00", "end": f"{9 + i % 8:02d}:00"}
        body = {"code": f"BC{i:03d}", "title": f"Course {i}", "credits": 3, "capacity": 40, "meetings": [meeting]}
        httpx.post(f"{course_data}/courses", json=body, headers=auth, timeout=30).raise_for_status()


def signed_in(browser: Any, base: str, username: str, first_view: str) -> Any:
    page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    page.add_init_script(INFLIGHT)
    page.goto(base + "/")
    page.fill("#sign-in input[name=username]", username)
    page.fill("#sign-in input[name=password]", PASSWORD)
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector(f"#view-{first_view}")
    return page


def shown(page: Any, view: str) -> None:
    page.wait_for_function(
        "(id) => document.getElementById('view-' + id) && window.__inflight === 0", arg=view, polling=5
    )


def time_view(page: Any, view: str, other: str) -> float:
    page.click(f"nav a[href='#/{other}']")  # leave it first, so each round shows it anew
    shown(page, other)
    started = time.perf_counter()
    page.click(f"nav a[href='#/{view}']")
    shown(page, view)
    return time.perf_counter() - started


def round_trip(page: Any) -> float:
    started = time.perf_counter()
    page.evaluate("fetch('/api/login/health').then((r) => r.text())")
    return time.perf_counter() - started


def measure(base: str, rounds: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    figures: dict[str, Any] = {"rounds": rounds, "views": {}}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            cold, trivial = [], []
            for _ in range(rounds):
                for path, selector, into in (("/console/app.css", "body", trivial), ("/", "#sign-in", cold)):
                    page = browser.new_context().new_page()
                    started = time.perf_counter()
                    page.goto(base + path)
                    page.wait_for_selector(selector)
                    into.append(time.perf_counter() - started)
                    page.context.close()
            figures["page"] = summary(cold)
            figures["baseline_trivial_page"] = summary(trivial)
            figures["page"]["ratio_to_trivial_page"] = round(
                figures["page"]["median"] / (figures["baseline_trivial_page"]["median"] or 1e-6), 1
            )
            trips: list[float] = []
            for username, views in (("admin", ADMIN_VIEWS), ("bench", STUDENT_VIEWS)):
                page = signed_in(browser, base, username, views[0])
                trips += [round_trip(page) for _ in range(rounds)]
                for view in views:
                    other = views[1] if view == views[0] else views[0]
                    times = [time_view(page, view, other) for _ in range(rounds)]
                    figures["views"][view] = summary(times)
                page.context.close()
            figures["baseline_round_trip"] = summary(trips)
        finally:
            browser.close()
    base_s = figures["baseline_round_trip"]["median"] or 1e-6
    for figure in figures["views"].values():
        figure["ratio_to_round_trip"] = round(figure["median"] / base_s, 1)
        figure["within_1s"] = figure["max"] < 1.0
    return figures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.bench console", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        counts = {"login": 1, "course_data": 1, "teacher": 1, "student": 1, "queue": 1}
        (where / "cluster.toml").write_text(cluster_toml(where / "data", counts)[0])
        with local_cluster(where / "cluster.toml", where / "data") as cluster:
            cluster.start()
            cluster.wait_ready(timeout=180)
            for service in counts:
                wait_for(partial(cluster.master, service, "student-1"), 60, f"a {service} master")
            prepare(cluster.url("login-1"), cluster.url("course_data-1"))
            figures = measure(cluster.url("student-1"), args.rounds)
    page, trivial = figures["page"], figures["baseline_trivial_page"]
    print(
        f"page, cold: median {page['median'] * 1000:.0f} ms, max {page['max'] * 1000:.0f} ms;"
        f" the stylesheet alone in a new page: median {trivial['median'] * 1000:.0f} ms"
        f" (x{page['ratio_to_trivial_page']})"
    )
    trip = figures["baseline_round_trip"]["median"] * 1000
    print(f"baseline, one call through the gateway: median {trip:.1f} ms")
    for view, figure in figures["views"].items():
        print(
            f"{view:10s} median {figure['median'] * 1000:6.0f} ms  max {figure['max'] * 1000:6.0f} ms"
            f"  = {figure['ratio_to_round_trip']:5.1f} round trips  {'ok' if figure['within_1s'] else 'OVER 1 s'}"
        )
    save(args.json, figures)
    return 0 if all(f["within_1s"] for f in figures["views"].values()) else 1
