"""Login hardening on real processes: a slave's forwarded logins are throttled by the original
client's address, and a student holding a seat cannot be deleted."""

from __future__ import annotations

import httpx
import pytest

from ops.localcluster import LocalCluster
from tests.api.login_kit import STRONG
from tests.cluster.conftest import MakeCluster
from tests.cluster.test_registrar import open_registration, token

pytestmark = pytest.mark.cluster


def from_address(source: str) -> httpx.Client:
    """A client whose connections come from `source` (any 127.x address is loopback)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=30)


def test_a_slaves_forwarded_logins_count_against_the_original_client(make_cluster: MakeCluster) -> None:
    cluster = make_cluster({"login": 2}).start_serving("login")
    master = cluster.master("login", "login-1")
    assert master is not None
    slave = cluster.url("login-2" if master[0] == "login-1" else "login-1")
    limits = {"security": {"address_failure_limits": "4 per minute"}}
    assert httpx.patch(f"{slave}/settings", json=limits, headers=token(cluster, 2, "super_admin")).status_code == 200
    made = httpx.post(
        f"{slave}/users",
        json={"username": "bystander", "role": "student", "password": STRONG, "must_change_password": False},
        headers=token(cluster, 1, "admin"),
    )
    assert made.status_code == 201, made.text

    def login(client: httpx.Client, username: str, password: str, **headers: str) -> int:
        body = {"username": username, "password": password}
        return client.post(f"{slave}/auth/login", json=body, headers=headers).status_code

    with from_address("127.0.0.5") as attacker, from_address("127.0.0.6") as bystander:
        assert [login(attacker, f"guess-{i}", "wrong-guess") for i in range(4)] == [401] * 4
        assert login(attacker, "guess-4", "wrong-guess") == 429
        assert login(attacker, "guess-5", "wrong-guess", **{"X-Forwarded-For": "10.9.9.9"}) == 429  # not believed
        forged = {"X-Client-Address": "10.9.9.8", "X-Internal-Token": "forged"}
        assert login(attacker, "guess-6", "wrong-guess", **forged) == 429
        assert login(bystander, "bystander", STRONG) == 200  # the slave's own address was not blamed


def test_a_student_holding_a_seat_is_not_deleted(shared: LocalCluster) -> None:
    cluster = shared  # users sam, sue, sid and course SD101 are this test's alone
    login, admin = cluster.url("login-1"), token(cluster, 1, "admin")
    ids = {}
    for name in ("sam", "sue"):
        made = httpx.post(f"{login}/users", json={"username": name, "role": "student"}, headers=admin)
        assert made.status_code == 201, made.text
        ids[name] = made.json()["id"]
    course = open_registration(cluster, admin, capacity=1, code="SD101")
    enroll = {"course_id": course}
    student_url = cluster.url("student-1")
    assert (
        httpx.post(
            f"{student_url}/student/enrollments", json=enroll, headers=token(cluster, ids["sam"], "student")
        ).status_code
        == 201
    )

    refused = httpx.delete(f"{login}/users/{ids['sam']}", headers=admin)
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"] == "/problems/user-has-enrollments"
    assert refused.json()["enrolled"] == [{"course_id": course, "code": "SD101"}]
    assert httpx.get(f"{login}/users/{ids['sam']}", headers=admin).status_code == 200  # nothing changed
    assert httpx.delete(f"{login}/users/{ids['sue']}", headers=admin).status_code == 204

    dropped = httpx.delete(f"{student_url}/student/enrollments/{course}", headers=token(cluster, ids["sam"], "student"))
    assert dropped.status_code in (200, 204), dropped.text
    assert httpx.delete(f"{login}/users/{ids['sam']}", headers=admin).status_code == 204
    again = httpx.post(f"{login}/users", json={"username": "sid", "role": "student"}, headers=admin).json()["id"]
    assert again not in ids.values()  # a new account never takes a deleted one's id


def test_logins_through_the_console_count_against_the_browser_when_the_console_is_a_trusted_proxy(
    make_cluster: MakeCluster,
) -> None:
    """The console's gateway sends the browser's address on (`X-Forwarded-For`); with the
    student nodes among `http.trusted_proxies`, an attacker signing in through the console
    is throttled alone, not every user of that console node."""
    cluster = make_cluster({"login": 1, "student": 1}, extra='trusted_proxies = ["127.0.0.1"]')
    cluster.start_serving("login", "student")
    limits = {"security": {"address_failure_limits": "4 per minute"}}
    login, console = cluster.url("login-1"), cluster.url("student-1")
    assert httpx.patch(f"{login}/settings", json=limits, headers=token(cluster, 2, "super_admin")).status_code == 200
    made = httpx.post(
        f"{login}/users",
        json={"username": "bystander", "role": "student", "password": STRONG, "must_change_password": False},
        headers=token(cluster, 1, "admin"),
        timeout=60,
    )
    assert made.status_code == 201, made.text

    def login_via_console(client: httpx.Client, username: str, password: str, **headers: str) -> int:
        body = {"username": username, "password": password}
        return client.post(f"{console}/api/login/auth/login", json=body, headers=headers).status_code

    with from_address("127.0.0.7") as attacker, from_address("127.0.0.8") as bystander:
        assert [login_via_console(attacker, f"guess-{i}", "wrong-guess") for i in range(4)] == [401] * 4
        assert login_via_console(attacker, "guess-4", "wrong-guess") == 429
        spoofed = login_via_console(attacker, "guess-5", "wrong-guess", **{"X-Forwarded-For": "10.9.9.9"})
        assert spoofed == 429  # the gateway sends the address it saw, not the one the browser claims
        assert login_via_console(bystander, "bystander", STRONG) == 200
