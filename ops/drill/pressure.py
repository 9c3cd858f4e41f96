"""Work that saturates the nodes beside the rush: maximum-size imports and wide-JSON logins.

Each runs in its own threads until stopped and counts the answers it got by status. The
first course import commits 10,000 courses; the next ones are checked row by row and
refused inside the write transaction (their codes exist). Each login body is just under 1 MiB of
60,000 unknown keys, answered with a 422 that lists every one of them.
"""

from __future__ import annotations

import threading
from collections import Counter

import httpx

from ops.drill.load import bearer
from ops.localcluster import LocalCluster

IMPORT_ROWS = 10_000  # services/course_data/course_csv.py MAX_ROWS
WIDE_KEYS = 60_000


def course_csv(rows: int = IMPORT_ROWS) -> str:
    lines = ["code,title,credits,capacity"]
    lines += [f"SAT{i:05d},Saturation course {i},3,30" for i in range(rows)]
    return "\n".join(lines) + "\n"


def wide_login_body(keys: int = WIDE_KEYS) -> bytes:
    """~1 MiB, just under the default body limit (`http.max_body_bytes`), so it is parsed."""
    extra = ",".join(f'"unknown{i:05d}":0' for i in range(keys))
    return ('{"username":"nobody","password":"wrong password",' + extra + "}").encode()


class Pressure:
    def __init__(self, cluster: LocalCluster, login_senders: int = 2) -> None:
        self.cluster = cluster
        self.login_senders = login_senders
        self.answers: dict[str, Counter[str]] = {"import": Counter(), "wide_login": Counter()}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def _count(self, kind: str, what: str) -> None:
        with self._lock:
            self.answers[kind][what] += 1

    def _loop(self, kind: str, urls: list[str], path: str, body: bytes, headers: dict[str, str]) -> None:
        turn = 0
        with httpx.Client(timeout=60) as client:
            while not self._stop.is_set():
                url = urls[turn % len(urls)]
                turn += 1
                try:
                    self._count(kind, str(client.post(url + path, content=body, headers=headers).status_code))
                except httpx.HTTPError as exc:
                    self._count(kind, type(exc).__name__)
                    self._stop.wait(0.2)

    def start(self) -> Pressure:
        nodes = self.cluster.config
        course_data = [n.url for n in nodes.nodes_of("course_data")]
        login = [n.url for n in nodes.nodes_of("login")]
        admin = {**bearer(self.cluster, 1, "admin"), "Content-Type": "text/csv"}
        jobs = [("import", course_data, "/courses/import", course_csv().encode(), admin)]
        wide = wide_login_body()
        jobs += [("wide_login", login, "/auth/login", wide, {"Content-Type": "application/json"})] * self.login_senders
        for job in jobs:
            thread = threading.Thread(target=self._loop, args=job, name=f"pressure-{job[0]}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> dict[str, dict[str, int]]:
        self._stop.set()
        for thread in self._threads:
            thread.join(90)
        return {kind: dict(counts) for kind, counts in self.answers.items()}
