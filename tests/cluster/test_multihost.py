"""Three hosts and a database host, set up as the deployment guide says (issue 14 item 7).

Each host is a network namespace on a bridge (`ops/drill/netns.py`, root only) running
its own `run.py` with one configuration file for all, told its name by
`CS_CLUSTER__HOST`, with the same `CS_SECRET_CLUSTER`; PostgreSQL and Redis run in the
hub (the database host), where the test's clients run too. The services share one
PostgreSQL database (a schema each), except the ledger (course_data), which has its
own, so that the checker reads it by its URL. One test, one cold start: a write on
any host is read on every host, a token works everywhere and its logout ends it
everywhere, a rush through the three queue nodes has nothing oversold and every request
final, and after kill -9 of the host of the ledger master a write goes through the new
master.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ops.drill.checker import counters, failed, report
from ops.drill.kit import _end, _redis_in
from ops.drill.load import bearer
from ops.drill.netns import Lab, unavailable
from ops.drill.postgres import Postgres, postgres_bin
from ops.localcluster import LocalCluster
from ops.rush import create_courses, plan, read_outcomes, submit_all
from tests.support import Processes, wait_until

pytestmark = pytest.mark.cluster

HOSTS = ("reg-a", "reg-b", "reg-c")
SERVICES = ("course_data", "login", "teacher", "student", "queue")  # one node of each per host
PASSWORD = "three hosts, one truth"
COLD_START_S = 180.0  # 15 Python processes on two shared, saturated cores


def _reason() -> str | None:
    if shutil.which("redis-server") is None:
        return "redis-server not found (ops/system-deps.sh)"
    if postgres_bin() is None:
        return "no PostgreSQL server binaries (apt-get install postgresql)"
    return unavailable()


@dataclass
class Deployment:
    lab: Lab
    cluster: LocalCluster  # the HTTP side only: the hosts' run.py start the nodes
    hosts: dict[str, subprocess.Popen[bytes]]
    processes: Processes
    redis_url: str
    ledger_url: str

    def node(self, service: str, host: str) -> str:
        return f"{service}-{host}"

    def url(self, service: str, host: str) -> str:
        return self.cluster.url(self.node(service, host))

    def master(self, service: str, via_host: str) -> tuple[str, int] | None:
        try:
            return self.cluster.master(service, self.node("course_data", via_host))
        except httpx.HTTPError:
            return None

    def logs(self) -> str:
        return "\n".join(f"--- {h}:\n{self.processes.output(p)[-4000:]}" for h, p in self.hosts.items())


def _toml(lab: Lab, work: Path, redis_url: str, shared_url: str, ledger_url: str) -> str:
    lines = [
        "[cluster]",
        'name = "multihost"',
        f'data_dir = "{work / "unused"}"',  # each host has its own (CS_CLUSTER__DATA_DIR)
        "[redis]",
        f'url = "{redis_url}"',
        "[http]",
        'log_level = "warning"',
    ]
    for service in SERVICES:
        url = ledger_url if service == "course_data" else shared_url
        lines += [f"[services.{service}]", f'database_url = "{url}"']
    for host in HOSTS:
        address = lab.addresses[host]
        for i, service in enumerate(SERVICES, 1):
            lines += [
                "[[nodes]]",
                f'id = "{service}-{host}"',
                f'service = "{service}"',
                f'host = "{host}"',
                f'http = "{address}:{8000 + i}"',
                f'raft = "{address}:{9000 + i}"',
            ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    reason = _reason()
    if reason:
        pytest.skip(reason)
    with contextlib.ExitStack() as stack:
        lab = Lab(list(HOSTS))
        stack.callback(lab.close)
        lab.create()
        stack.enter_context(lab.enter())  # this thread is on the database host from here on
        redis_process, redis_url = _redis_in(tmp_path / "redis", lab.hub_address, 6379)
        stack.callback(_end, redis_process)
        network = lab.hub_address.rpartition(".")[0] + ".0/24"
        pg = Postgres(lab.hub_address, 5432, allow=network, options="-c max_connections=400")
        stack.callback(pg.stop)
        pg.start()
        pg.psql("CREATE DATABASE ledger")
        path = tmp_path / "cluster.toml"
        path.write_text(_toml(lab, tmp_path, redis_url, pg.url("postgres"), pg.url("ledger")))
        path.chmod(0o600)
        secret = secrets.token_urlsafe(32)
        processes = Processes(tmp_path)
        stack.callback(processes.stop_all)
        hosts = {}
        for host in HOSTS:
            env = {"CS_CLUSTER__HOST": host, "CS_CLUSTER__DATA_DIR": str(tmp_path / host), "CS_SECRET_CLUSTER": secret}
            hosts[host] = processes.run_py("--config", str(path), env=env, prefix=lab.prefix(host))
        cluster = LocalCluster(path, tmp_path / "client", {"CS_SECRET_CLUSTER": secret})
        stack.callback(cluster.http.close)
        place = Deployment(lab, cluster, hosts, processes, redis_url, pg.url("ledger"))
        try:
            for node in cluster.config.nodes:
                wait_until(lambda n=node.id: cluster.ready(n), COLD_START_S, f"{node.id} ready", interval=0.5)
            for service in SERVICES:
                wait_until(lambda s=service: place.master(s, HOSTS[0]), 60, f"a master of {service}")
            yield place
        except BaseException:
            print(place.logs())
            raise


def _answered(what: str, call: Callable[[], httpx.Response], timeout: float = 60) -> Any:
    """The JSON of `call`'s first 2xx answer, retried while a node is unreachable or answers
    503 (a master moving, a slow start); any other answer fails the test at once."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        try:
            answer = call()
        except httpx.TransportError as exc:
            last = repr(exc)
        else:
            if answer.status_code < 300:
                return answer.json() if answer.content else {}
            assert answer.status_code in (502, 503, 504), (what, answer.status_code, answer.text)
            last = f"{answer.status_code} {answer.text[:300]}"
        time.sleep(0.2)
    raise AssertionError(f"no answer to {what} within {timeout}s; last: {last}")


def _admin_login(place: Deployment, password: str = PASSWORD) -> dict[str, str]:
    answer = _answered(
        "an admin login",
        lambda: httpx.post(
            f"{place.url('login', HOSTS[0])}/auth/login",
            json={"username": "admin", "password": password},
            timeout=30,
        ),
    )
    return {"Authorization": f"Bearer {answer['access_token']}"}


def _first_admin_login(place: Deployment) -> dict[str, str]:
    """The default admin, its password changed as it must be before anything else."""
    first = _admin_login(place, "admin123")
    changed = _answered(
        "the admin's new password",
        lambda: httpx.post(
            f"{place.url('login', HOSTS[2])}/auth/password",
            json={"old_password": "admin123", "new_password": PASSWORD},
            headers=first,
            timeout=30,
        ),
    )
    return {"Authorization": f"Bearer {changed['access_token']}"}


def _course(number: int, code: str) -> dict[str, object]:
    day, hour = number % 5, 8 + number // 5
    meeting = {"weekday": day, "start": f"{hour:02d}:00", "end": f"{hour:02d}:50"}
    return {"code": code, "title": f"Course {code}", "credits": 3, "capacity": 30, "meetings": [meeting]}


def _create(url: str, admin: dict[str, str], number: int, code: str) -> int:
    made = _answered(
        f"course {code} through {url}",
        lambda: httpx.post(f"{url}/courses", json=_course(number, code), headers=admin, timeout=30),
    )
    return int(made["id"])


def _read_everywhere(
    place: Deployment, admin: dict[str, str], course_id: int, code: str, hosts: tuple[str, ...] = HOSTS
) -> None:
    for host in hosts:
        url = f"{place.url('course_data', host)}/courses/{course_id}"
        found = _answered(f"course {code} on {host}", lambda u=url: httpx.get(u, headers=admin, timeout=10))
        assert found["code"] == code, found


def _writes_are_read_on_every_host(place: Deployment, admin: dict[str, str]) -> None:
    for number, host in enumerate(HOSTS):
        code = f"MH{number}"
        _read_everywhere(place, admin, _create(place.url("course_data", host), admin, number, code), code)


def _logout_ends_the_token_everywhere(place: Deployment, admin: dict[str, str]) -> None:
    session = _admin_login(place)
    urls = [n.url for n in place.cluster.config.nodes]
    for url in urls:  # every node of every host verifies it
        answer = httpx.get(f"{url}/cluster/status", headers=session, timeout=10)
        assert answer.status_code == 200, (url, answer.text)
    logout = httpx.post(f"{place.url('login', HOSTS[1])}/auth/logout", headers=session, timeout=30)
    assert logout.status_code == 204, logout.text
    for url in urls:
        wait_until(
            lambda u=url: httpx.get(f"{u}/cluster/status", headers=session, timeout=10).status_code == 401,
            30,
            f"{url} refusing the ended session",
            interval=0.1,
        )
    assert httpx.get(f"{urls[0]}/cluster/status", headers=admin, timeout=10).status_code == 200  # others live on


def _rush_through_the_three_queue_nodes(place: Deployment, admin: dict[str, str]) -> None:
    rules = {
        "queue": {
            "enabled": True,
            "student_rate_limit": "100000 per minute",
            "batch_size": 10,
            "decision_timeout_seconds": 300,
        }
    }
    superuser = bearer(place.cluster, 2, "super_admin")
    login = place.url("login", HOSTS[2])
    _answered("the queue rules", lambda: httpx.patch(f"{login}/settings", json=rules, headers=superuser, timeout=30))
    course_ids = wait_until(
        lambda: create_courses(place.url("course_data", HOSTS[1]), admin, 3, 40, prefix="RUSH"), 60, "the courses"
    )
    prepared = plan(place.cluster.config, 150, course_ids, 2)  # 300 requests for 120 seats
    queues = [place.url("queue", host) for host in HOSTS]
    told = asyncio.run(submit_all(queues, prepared, concurrency=12, give_up_after=120))
    wait_until(
        lambda: (c := counters(place.redis_url))[0] == c[1] == len(told.taken),
        180,
        "every admitted request decided",
        interval=0.2,
    )
    asyncio.run(read_outcomes(queues, prepared, told, give_up_after=60))
    found = report(place.redis_url, place.ledger_url, told)
    assert len(told.taken) + len(told.refused) == len(prepared)
    assert found["outcomes"].get("accepted", 0) == 120, found["outcomes"]
    assert not failed(found["checks"]), found
    assert len(told.outcomes) == len(told.taken)  # every client read its request's final outcome
    print(f"rush: {found['outcomes']}, {found['decided_per_s']} decided/s")


def _kill_the_ledger_masters_host(place: Deployment, admin: dict[str, str]) -> None:
    old, old_epoch = _wait_master(place, HOSTS[0], lambda node: True)
    dead = place.cluster.config.node(old).host
    survivors = tuple(h for h in HOSTS if h != dead)
    place.lab.cut(dead)  # no packet leaves it again, as when a host dies
    wait_until(lambda: place.lab.kill(dead) == 0, 30, f"every process on {dead} killed", interval=0.1)
    began = time.monotonic()
    new, new_epoch = _wait_master(place, survivors[0], lambda node: node != old)
    assert place.cluster.config.node(new).host in survivors
    assert new_epoch > old_epoch
    course_id = _create(place.cluster.url(new), admin, 7, "AFTERKILL")
    _read_everywhere(place, admin, course_id, "AFTERKILL", survivors)
    print(f"{dead} killed: new ledger master {new} written through {time.monotonic() - began:.1f}s later")


def _wait_master(place: Deployment, via_host: str, wanted: Callable[[str], bool]) -> tuple[str, int]:
    def found() -> tuple[str, int] | None:
        seen = place.master("course_data", via_host)
        return seen if seen and wanted(seen[0]) else None

    master = wait_until(found, 90, "the ledger master", interval=0.1)
    assert master is not None
    return master


def test_three_hosts_share_data_sessions_and_the_queue_and_survive_the_ledger_hosts_death(
    deployment: Deployment,
) -> None:
    began = time.monotonic()
    try:
        admin = _first_admin_login(deployment)
        _writes_are_read_on_every_host(deployment, admin)
        _logout_ends_the_token_everywhere(deployment, admin)
        _rush_through_the_three_queue_nodes(deployment, admin)
        _kill_the_ledger_masters_host(deployment, admin)
    except BaseException:
        print(deployment.logs())
        raise
    print(f"checks after the cold start took {time.monotonic() - began:.1f}s")
