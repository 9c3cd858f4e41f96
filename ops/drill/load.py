"""The drills' loads: the rush sent by careful clients (who remember what they were told),
write checks through a service's master, and the probes that time a failover."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from ops.drill.checker import Told, counters, report
from ops.localcluster import LocalCluster, wait_for
from ops.rush import Prepared, create_courses, plan, read_outcomes, submit_all
from ops.tokens import issue, signing_key


def bearer(cluster: LocalCluster, user_id: int, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue(signing_key(cluster.config), user_id, role, minutes=60)}"}


def retrying(what: str, call: Any, timeout: float = 60) -> Any:
    """Call until it answers 2xx (a master may be moving): the answer's JSON."""

    def once() -> Any:
        answer = call()
        return answer.status_code < 300 and (answer.json() or True)

    return wait_for(once, timeout, what, interval=0.2)


@dataclass
class Rush:
    """A rush of `students` x `per_student` enrollments into `courses` courses of `seats` seats,
    sent from a thread by clients that retry on 503 and dead nodes with the same key."""

    cluster: LocalCluster
    redis_url: str
    students: int = 240
    courses: int = 3
    seats: int = 40
    per_student: int = 2
    concurrency: int = 12
    waves: int = 1  # > 1: a new set of courses and students each wave (a longer rush)
    told: Told = field(default_factory=Told)
    prepared: list[Prepared] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    waves_not_started: int = 0
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def queue_urls(self) -> list[str]:
        return [self.cluster.url(n.id) for n in self.cluster.config.nodes_of("queue")]

    def prepare(self) -> Rush:
        superuser = bearer(self.cluster, 2, "super_admin")
        rules = {"queue": {"student_rate_limit": "100000 per minute", "batch_size": 10}}  # many batches
        login = self.cluster.url(self.cluster.config.nodes_of("login")[0].id)
        retrying("the queue rules", lambda: httpx.patch(f"{login}/settings", json=rules, headers=superuser, timeout=10))
        return self

    def _wave(self, number: int) -> list[Prepared]:
        admin = bearer(self.cluster, 1, "admin")
        master = wait_for(lambda: self.cluster.master("course_data", self._via()), 60, "a course_data master")
        assert master is not None
        url = self.cluster.url(master[0])
        attempts = itertools.count(1)  # a failed attempt may have made some: the next uses new codes
        ids = wait_for(
            lambda: create_courses(url, admin, self.courses, self.seats, prefix=f"W{number}A{next(attempts)}R"),
            60,
            "the courses",
        )
        return plan(
            self.cluster.config, self.students, ids, self.per_student, seed=number, first_student=number * 10_000
        )

    def _via(self) -> str:
        return next(iter(self.cluster.processes))

    def start(self) -> Rush:
        def run() -> None:
            try:
                for number in range(1, self.waves + 1):
                    if self._stop.is_set():
                        break
                    try:
                        wave = self._wave(number)
                    except TimeoutError:  # its courses could not be made: the cluster refused writes
                        self.waves_not_started += 1
                        continue
                    self.prepared += wave
                    answered = asyncio.run(submit_all(self.queue_urls(), wave, self.concurrency, give_up_after=120))
                    self.told.taken.update(answered.taken)
                    self.told.refused.update(answered.refused)
                    self.told.duplicate_ids += answered.duplicate_ids
            except BaseException as exc:  # reported by finish()
                self.errors.append(exc)

        self._thread = threading.Thread(target=run, name="rush", daemon=True)
        self._thread.start()
        return self

    def wait_share(self, share: float, timeout: float = 120) -> None:
        """Until `share` of the first wave is answered (admitted or refused at once)."""
        total = self.students * min(self.per_student, self.courses)
        wait_for(lambda: sum(counters(self.redis_url)[::2]) >= share * total, timeout, f"{share:.0%} of the rush")

    def stop(self) -> None:
        """No new wave after the one under way."""
        self._stop.set()

    def finish(self, timeout: float = 180) -> dict[str, Any]:
        """Wait for the clients, for every admitted request to be decided, read the outcomes
        as the students would, then check: the checker's report."""
        assert self._thread is not None
        self._thread.join(timeout)
        if self.errors:
            raise RuntimeError(f"the rush's clients failed: {self.errors[0]!r}") from self.errors[0]
        if self._thread.is_alive():
            raise TimeoutError(f"the rush's clients did not finish within {timeout}s")
        with_decisions = lambda: (c := counters(self.redis_url))[0] == c[1] == len(self.told.taken)  # noqa: E731
        with contextlib.suppress(TimeoutError):  # the checker counts what stayed undecided
            wait_for(with_decisions, timeout, "every admitted request decided", interval=0.2)
        asyncio.run(read_outcomes(self.queue_urls(), self.prepared, self.told, give_up_after=30))
        found = report(self.redis_url, self.cluster.config.database_url("course_data"), self.told)
        found["checks"]["rush_waves_not_started"] = self.waves_not_started  # no course made within 60 s
        return found


def write_through(cluster: LocalCluster, via: str, not_by: str, timeout: float) -> tuple[float, dict[str, Any]] | None:
    """Poll a fenced write check through `via` until one is written by a node other than
    `not_by`: (seconds it took, the answer), or None if none within `timeout`."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        try:
            answer = cluster.request(via, "POST", "/cluster/write-check", json={}, timeout=min(5.0, timeout))
            if answer.status_code == 200 and answer.json()["node"] != not_by:
                return time.monotonic() - began, answer.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.01)
    return None


@dataclass
class Failover:
    """Times from a fault to a new master (as `via` sees it) and to its first write."""

    new_master_s: float | None = None
    first_write_s: float | None = None
    new_master: str | None = None
    new_epoch: int | None = None


def time_failover(
    cluster: LocalCluster, service: str, old: str, via: str, struck_at: float, timeout: float
) -> Failover:
    """Poll `via` every 10 ms for a new master of `service`, then for a write through it."""
    found = Failover()
    while time.monotonic() - struck_at < timeout:
        try:
            seen = cluster.master(service, via)
        except httpx.HTTPError:
            seen = None
        if seen and seen[0] != old:
            found.new_master_s = time.monotonic() - struck_at
            found.new_master, found.new_epoch = seen
            break
        time.sleep(0.01)
    if found.new_master_s is None:
        return found
    wrote = write_through(cluster, via, old, timeout - (time.monotonic() - struck_at))
    if wrote is not None:
        found.first_write_s = time.monotonic() - struck_at
    return found


class PausedWrite:
    """A fenced write check sent to `node` that pauses `pause_ms` inside its transaction
    (debug failpoint `pause_in_transaction_ms`), through the same fenced write as every
    write of the services: if the node stops being master meanwhile, the write must not
    commit. Runs in a thread; `answer` when done."""

    def __init__(self, cluster: LocalCluster, node: str, pause_ms: int) -> None:
        self.cluster, self.node, self.pause_ms = cluster, node, pause_ms
        self.answer: httpx.Response | None = None
        self.error: Exception | None = None
        self.marks = cluster.log_text(node).count("failpoint: pausing")
        self._thread = threading.Thread(target=self._send, daemon=True)

    def _send(self) -> None:
        try:
            self.answer = self.cluster.request(
                self.node, "POST", "/cluster/write-check", json={"pause_in_transaction_ms": self.pause_ms}, timeout=60
            )
        except httpx.HTTPError as exc:
            self.error = exc

    def start(self) -> PausedWrite:
        self._thread.start()
        wait_for(
            lambda: self.cluster.log_text(self.node).count("failpoint: pausing") > self.marks,
            20,
            "the write check to reach its pause",
        )
        return self

    def result(self, timeout: float = 60) -> str:
        """'written', 'refused' (503) or what else happened."""
        self._thread.join(timeout)
        if self.answer is None:
            return f"no answer ({self.error!r})"
        if self.answer.status_code == 200:
            return "written"
        return "refused" if self.answer.status_code == 503 else f"answered {self.answer.status_code}"
