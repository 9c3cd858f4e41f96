"""The login service in-process (one node, real Redis): accounts, tokens, sessions, attacks."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import pickle
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyotp
import pytest
import redis
from joserfc import jwt
from joserfc.jwk import OctKey, OKPKey
from starlette.testclient import TestClient

from cluster.config import ClusterConfig
from cluster.internal_auth import HEADER, InternalTokens
from cluster.secrets import load_or_create_secret
from ops.tokens import signing_key
from services import app_factory
from services.common.forwarding import CLIENT_ADDRESS
from services.login import routes_auth
from services.login.passwords import check_password
from tests.api.login_kit import STRONG, Account, default_account, forge, log_in, new_account
from tests.databases import new_database
from tests.support import make_config, wait_master


@pytest.fixture
def config(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> ClusterConfig:
    """One login node on SQLite, or on MariaDB for the tests marked ON_MARIADB_TOO."""
    redis.Redis.from_url(redis_url).flushdb()  # throttling state of earlier tests must not leak in
    env = {}
    if getattr(request, "param", "sqlite") != "sqlite":
        env["CS_SERVICES__LOGIN__DATABASE_URL"] = asyncio.run(new_database(request, request.param, tmp_path))
    return make_config(tmp_path, redis_url=redis_url, services=("login",), **env)


# The tests whose SQL varies most (accounts, sessions, keys, search, imports, 2FA) run on MariaDB too.
ON_MARIADB_TOO = pytest.mark.parametrize("config", ["sqlite", "mariadb"], indirect=True)


@pytest.fixture
def client(config: ClusterConfig) -> Iterator[TestClient]:
    node = config.nodes[0]
    with TestClient(app_factory("login")(config, node), raise_server_exceptions=False) as test_client:
        wait_master(test_client, config)
        yield test_client


@pytest.fixture
def admin(client: TestClient) -> Account:
    return default_account(client, "admin")


@pytest.fixture
def root(client: TestClient) -> Account:
    return default_account(client, "super_admin")


@pytest.fixture(scope="module")
def one_config(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> ClusterConfig:
    """The node shared by the tests that only need users of their own (each makes users no other
    test names) and change no setting, key or throttle state: one start instead of one per test."""
    redis.Redis.from_url(redis_url).flushdb()
    return make_config(tmp_path_factory.mktemp("login"), redis_url=redis_url, services=("login",))


@pytest.fixture(scope="module")
def one_client(one_config: ClusterConfig) -> Iterator[TestClient]:
    with TestClient(app_factory("login")(one_config, one_config.nodes[0]), raise_server_exceptions=False) as shared:
        wait_master(shared, one_config)
        yield shared


@pytest.fixture(scope="module")
def one_admin(one_client: TestClient) -> Account:
    """The shared node's admin: the shared tests use its session but never end it or change its password."""
    return default_account(one_client, "admin")


@pytest.fixture(scope="module")
def one_root(one_client: TestClient) -> Account:
    return default_account(one_client, "super_admin")


def audit_rows(config: ClusterConfig) -> list[tuple[str, str, str]]:
    """(actor, action, target) of the login audit, read from its database file."""
    path = config.database_url("login").split("///", 1)[1]
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [tuple(r) for r in db.execute("SELECT actor, action, target FROM audit_log ORDER BY id")]


def patch_settings(client: TestClient, root: Account, patch: dict[str, object]) -> None:
    response = client.patch("/settings", json=patch, headers=root.auth)
    assert response.status_code == 200, response.text


# default accounts


@ON_MARIADB_TOO
def test_default_accounts_can_do_nothing_but_change_their_password(client: TestClient) -> None:
    first = log_in(client, "admin", "admin123")
    assert first.status_code == 200
    assert first.json()["must_change_password"] is True
    auth = {"Authorization": f"Bearer {first.json()['access_token']}"}
    refused = client.get("/users", headers=auth)
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/password-change-required"
    assert client.get("/settings", headers=auth).status_code == 403
    assert client.get("/auth/me", headers=auth).json()["must_change_password"] is True
    changed = client.post("/auth/password", json={"old_password": "admin123", "new_password": STRONG}, headers=auth)
    assert changed.status_code == 200
    assert changed.json()["must_change_password"] is False
    new_auth = {"Authorization": f"Bearer {changed.json()['access_token']}"}
    assert client.get("/users", headers=new_auth).status_code == 200
    assert client.get("/auth/me", headers=auth).status_code == 401  # the old session has ended


# passwords


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("", "must not be empty"),
        ("short", "at least 8"),
        ("password1", "most common"),
        ("x" * 65, "at most 64 characters"),
        ("€" * 25, "at most 72 bytes"),
        ("admin", "at least 8"),
    ],
)
def test_bad_new_passwords_are_422_saying_why(
    one_client: TestClient, one_admin: Account, password: str, reason: str
) -> None:
    client, admin = one_client, one_admin  # a refused change changes nothing
    response = client.post(
        "/auth/password", json={"old_password": admin.password, "new_password": password}, headers=admin.auth
    )
    assert response.status_code == 422
    assert reason in response.json()["detail"]


def test_the_72_byte_boundary(client: TestClient, admin: Account) -> None:
    exactly = "€" * 24  # 24 characters, 72 bytes: bcrypt takes all of it
    ok = client.post(
        "/auth/password", json={"old_password": admin.password, "new_password": exactly}, headers=admin.auth
    )
    assert ok.status_code == 200, ok.text
    assert log_in(client, "admin", exactly).status_code == 200
    assert log_in(client, "admin", exactly + "€").status_code == 401  # 75 bytes: refused, never a 500
    assert log_in(client, "admin", "x" * 1000).status_code == 401


# tokens


def test_token_attacks_are_refused(one_client: TestClient, one_config: ClusterConfig, one_admin: Account) -> None:
    client, config, admin = one_client, one_config, one_admin
    key = signing_key(config)
    good = forge(key, sub=str(admin.id), sid="s1")
    public = key.as_dict(private=False)
    now = int(time.time())
    forged_public = OctKey.import_key(base64.urlsafe_b64decode(public["x"] + "=="))
    header, payload, signature = admin.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered_payload = base64.urlsafe_b64encode(json.dumps({**claims, "role": "super_admin"}).encode()).rstrip(b"=")
    unsigned = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode() + "." + payload + "."
    attacks = {
        "alg none": unsigned,
        "HS256 with the public key": jwt.encode({"alg": "HS256", "kid": key.kid}, claims, forged_public),
        "expired": forge(key, exp=now - 10, iat=now - 100),
        "not yet valid": forge(key, nbf=now + 300),
        "issued in the future": forge(key, iat=now + 300, exp=now + 900),
        "wrong audience": forge(key, aud="someone-else"),
        "wrong issuer": forge(key, iss="evil"),
        "unknown role": forge(key, role="god"),
        "no session": forge(key, sid=None),
        "tampered payload": f"{header}.{tampered_payload.decode()}.{signature}",
        "unknown kid": forge(OKPKey.generate_key("Ed25519", parameters={"kid": "attacker"})),
        "garbage": "not.a.token",
    }
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {good}"}).status_code == 200  # the forge works
    for name, token in attacks.items():
        response = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert response.json()["type"] in ("/problems/invalid-token", "/problems/unauthorized"), name


def test_a_logged_out_session_is_refused(client: TestClient, admin: Account) -> None:
    assert client.post("/auth/logout", headers=admin.auth).status_code == 204
    response = client.get("/auth/me", headers=admin.auth)
    assert response.status_code == 401
    assert "ended" in response.json()["detail"]
    assert client.post("/auth/refresh", json={"refresh_token": admin.refresh}).status_code == 401


@ON_MARIADB_TOO
def test_refresh_rotates_and_reuse_revokes_the_session(client: TestClient, admin: Account) -> None:
    first = client.post("/auth/refresh", json={"refresh_token": admin.refresh})
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != admin.refresh
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {rotated['access_token']}"}).status_code == 200
    reuse = client.post("/auth/refresh", json={"refresh_token": admin.refresh})
    assert reuse.status_code == 401
    assert reuse.json()["type"] == "/problems/refresh-token-reused"
    for token in (rotated["access_token"], admin.token):  # the whole session is gone
        assert client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]}).status_code == 401


@ON_MARIADB_TOO
def test_admin_revoke_disable_and_reset_end_sessions(client: TestClient, admin: Account) -> None:
    for action in ("revoke", "disable", "reset"):
        user = new_account(client, admin, f"victim-{action}", "student")
        if action == "revoke":
            response = client.post(f"/users/{user.id}/sessions/revoke", headers=admin.auth)
        elif action == "disable":
            response = client.patch(f"/users/{user.id}", json={"disabled": True}, headers=admin.auth)
        else:
            response = client.post(f"/users/{user.id}/password-reset", headers=admin.auth)
        assert response.status_code == 200, (action, response.text)
        assert client.get("/auth/me", headers=user.auth).status_code == 401, action
    assert log_in(client, "victim-disable", STRONG).status_code == 401


def test_a_role_or_cohort_change_ends_the_sessions(
    one_client: TestClient, one_admin: Account, one_root: Account
) -> None:
    client, admin, root = one_client, one_admin, one_root  # users deputy and moved are this test's
    demoted = new_account(client, root, "deputy", "admin")
    assert client.get("/users", headers=demoted.auth).status_code == 200
    changed = client.patch(f"/users/{demoted.id}", json={"role": "student"}, headers=root.auth)
    assert changed.status_code == 200, changed.text
    assert client.get("/users", headers=demoted.auth).status_code == 401  # not admin powers until expiry
    assert client.post("/auth/refresh", json={"refresh_token": demoted.refresh}).status_code == 401
    student = new_account(client, admin, "moved", "student")
    same = client.patch(f"/users/{student.id}", json={"full_name": "Moved On"}, headers=admin.auth)
    assert same.status_code == 200
    assert client.get("/auth/me", headers=student.auth).status_code == 200  # a profile edit keeps them
    assert client.patch(f"/users/{student.id}", json={"cohort": 2024}, headers=admin.auth).status_code == 200
    assert client.get("/auth/me", headers=student.auth).status_code == 401
    assert log_in(client, "moved", STRONG).status_code == 200


@ON_MARIADB_TOO
def test_key_rotation_keeps_old_tokens_valid(client: TestClient, root: Account) -> None:
    before = client.get("/.well-known/jwks.json").json()["keys"]
    rotated = client.post("/auth/keys/rotate", headers=root.auth)
    assert rotated.status_code == 200
    after = client.get("/.well-known/jwks.json").json()["keys"]
    assert {k["kid"] for k in after} == {k["kid"] for k in before} | {rotated.json()["kid"]}
    assert all(k["alg"] == "Ed25519" and "d" not in k for k in after)  # public halves only
    assert client.get("/auth/me", headers=root.auth).status_code == 200  # signed with the old key
    fresh = log_in(client, "super_admin", root.password).json()["access_token"]
    assert json.loads(base64.urlsafe_b64decode(fresh.split(".")[0] + "=="))["kid"] == rotated.json()["kid"]


# brute force


class Clock:
    """The login service's throttle clock, moved by the test (never raced against)."""

    def __init__(self, client: TestClient) -> None:
        self.now = time.time()
        client.app_state["ctx"].service.clock = lambda: self.now


@pytest.fixture
def clock(client: TestClient) -> Clock:
    return Clock(client)


@pytest.fixture
def evaluated(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password the login service checks against a hash, in order."""
    checked: list[str] = []

    async def counting(password: str, hashed: str) -> bool:
        checked.append(password)
        return await check_password(password, hashed)

    monkeypatch.setattr(routes_auth, "check_password", counting)
    return checked


def from_address(config: ClusterConfig, address: str) -> dict[str, str]:
    """Headers of a login a slave forwards for a client at `address` (an internal token vouches)."""
    secret = load_or_create_secret(config.data_dir, "cluster")
    return {HEADER: InternalTokens(secret, "login-2").mint(), CLIENT_ADDRESS: address}


# Refused before any password check: throttled, or (on a saturated machine) the node's master
# lease lapsed under the burst and it answered 503 without reaching the throttle.
NOT_LET_IN = {429, 503}


def top_up(evaluated: list[str], bound: int, send: Callable[[int], object]) -> None:
    """Send more, one at a time, until `bound` were checked (a 503 in the burst checked none)."""
    for i in range(3 * bound):
        if len(evaluated) >= bound:
            return
        send(i)
    raise AssertionError(f"only {len(evaluated)} of {bound} checks got through")


def burst(client: TestClient, requests: list[tuple[str, str, dict[str, str]]]) -> list[int]:
    """Send (username, password, headers) logins all at once; their statuses."""
    with ThreadPoolExecutor(len(requests)) as pool:
        answers = pool.map(
            lambda r: client.post("/auth/login", json={"username": r[0], "password": r[1]}, headers=r[2]), requests
        )
        return [a.status_code for a in answers]


def test_failures_slow_down_then_lock_and_admins_unlock(
    client: TestClient, clock: Clock, admin: Account, root: Account
) -> None:
    patch_settings(client, root, {"security": {"throttle_after_failures": 2, "lockout_threshold": 3}})
    user = new_account(client, admin, "bob", "student")
    assert [log_in(client, "bob", "wrong-guess").status_code for _ in range(2)] == [401, 401]
    throttled = log_in(client, "bob", STRONG)
    assert throttled.status_code == 429  # even the right password waits
    assert throttled.headers["retry-after"] == "1"
    clock.now += 1
    assert log_in(client, "bob", "wrong-guess").status_code == 401
    locked = log_in(client, "bob", STRONG)
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) == 15 * 60  # locked for lockout_minutes
    assert client.post(f"/users/{user.id}/unlock", headers=admin.auth).status_code == 200
    assert log_in(client, "bob", STRONG).status_code == 200


def test_a_concurrent_burst_evaluates_no_more_guesses_than_the_throttle_allows(
    client: TestClient, clock: Clock, evaluated: list[str], admin: Account
) -> None:
    new_account(client, admin, "erin", "student")
    evaluated.clear()
    statuses = burst(client, [("erin", f"guess-{i}", {}) for i in range(16)])
    assert len(evaluated) <= 3  # throttle_after_failures 3, then a delay
    assert statuses.count(401) == len(evaluated)
    assert set(statuses) - {401} <= NOT_LET_IN
    top_up(evaluated, 3, lambda i: log_in(client, "erin", f"more-{i}"))
    assert log_in(client, "erin", STRONG).status_code == 429  # the right one, sent after them, waits too
    clock.now += 1
    assert log_in(client, "erin", STRONG).status_code == 200
    assert evaluated[-1] == STRONG


def test_many_addresses_get_the_account_budget_and_the_owner_still_logs_in(
    client: TestClient, config: ClusterConfig, clock: Clock, evaluated: list[str], admin: Account, root: Account
) -> None:
    patch_settings(client, root, {"security": {"account_failures_per_hour": 5}})
    new_account(client, admin, "dora", "student")  # logs in once: this address is now known
    evaluated.clear()
    strangers = [("dora", f"guess-{i}", from_address(config, f"203.0.113.{i}")) for i in range(16)]
    statuses = burst(client, strangers)
    assert len(evaluated) <= 5  # the bound on guesses per account per hour, however many at once
    assert statuses.count(401) == len(evaluated)
    assert set(statuses) - {401} <= NOT_LET_IN
    top_up(evaluated, 5, lambda i: log_in(client, "dora", f"more-{i}", headers=from_address(config, f"198.18.0.{i}")))
    assert log_in(client, "dora", STRONG, headers=from_address(config, "203.0.113.99")).status_code == 429
    assert log_in(client, "dora", STRONG).status_code == 200  # the owner, from an address they used before
    clock.now += 3600
    assert log_in(client, "dora", STRONG, headers=from_address(config, "203.0.113.99")).status_code == 200


def test_a_client_cannot_choose_the_address_it_is_counted_against(
    client: TestClient, config: ClusterConfig, root: Account
) -> None:
    patch_settings(client, root, {"security": {"address_failure_limits": "4 per minute"}})
    forged = from_address(config, "198.51.100.1")
    forged[HEADER] = "not-a-token"
    for i in range(4):
        spoofed = {**forged, CLIENT_ADDRESS: f"198.51.100.{i}", "X-Forwarded-For": f"198.51.100.{i}"}
        assert log_in(client, f"guess-{i}", "wrong-guess", headers=spoofed).status_code == 401
    assert log_in(client, "guess-9", "wrong-guess", headers={CLIENT_ADDRESS: "198.51.100.9"}).status_code == 429
    vouched = from_address(config, "198.51.100.9")  # a slave relaying another client: counted apart
    assert log_in(client, "guess-9", "wrong-guess", headers=vouched).status_code == 401


def test_unknown_usernames_answer_exactly_like_known_ones(
    client: TestClient, clock: Clock, admin: Account, root: Account
) -> None:
    patch_settings(client, root, {"security": {"throttle_after_failures": 2, "lockout_threshold": 3}})
    new_account(client, admin, "carol", "student")
    known = [log_in(client, "carol", "wrong-guess") for _ in range(3)]
    unknown = [log_in(client, "nobody-here", "wrong-guess") for _ in range(3)]
    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [401, 401, 429]
    assert known[0].json()["detail"] == unknown[0].json()["detail"]


def test_one_address_is_throttled_across_usernames(client: TestClient, clock: Clock, root: Account) -> None:
    patch_settings(client, root, {"security": {"address_failure_limits": "4 per minute"}})
    statuses = [log_in(client, f"guess-{i}", "wrong-guess").status_code for i in range(6)]
    assert statuses[:4] == [401] * 4
    assert statuses[4:] == [429, 429]


# two-factor authentication


@ON_MARIADB_TOO
def test_totp_enrolment_login_and_replay(client: TestClient, admin: Account) -> None:
    setup = client.post("/auth/otp/setup", json={"password": admin.password}, headers=admin.auth).json()
    assert setup["otpauth_uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(setup["secret"])
    now = time.time()
    wrong = "000000" if totp.now() != "000000" else "111111"
    confirm = {"code": wrong, "password": admin.password}
    assert client.post("/auth/otp/confirm", json=confirm, headers=admin.auth).status_code == 422
    confirm["code"] = totp.at(now)
    assert client.post("/auth/otp/confirm", json=confirm, headers=admin.auth).status_code == 200
    no_code = log_in(client, "admin", admin.password)
    assert no_code.status_code == 401
    assert no_code.json()["type"] == "/problems/otp-required"
    replayed = log_in(client, "admin", admin.password, otp=totp.at(now))  # the code used to confirm
    assert replayed.status_code == 401
    assert replayed.json()["type"] == "/problems/invalid-otp"
    next_code = totp.at(now + totp.interval)
    assert log_in(client, "admin", admin.password, otp=next_code).status_code == 200
    assert log_in(client, "admin", admin.password, otp=next_code).status_code == 401  # a code works once


def test_2fa_changes_need_the_password_and_turning_it_off_a_code(one_client: TestClient, one_admin: Account) -> None:
    """A stolen access token alone can neither enrol the thief's authenticator nor remove the owner's."""
    client, admin = one_client, one_admin  # user owner is this test's
    user = new_account(client, admin, "owner", "student")
    thief = user.auth
    assert client.post("/auth/otp/setup", json={}, headers=thief).status_code == 422  # no password
    assert client.post("/auth/otp/setup", json={"password": "a guess"}, headers=thief).status_code == 401
    setup = client.post("/auth/otp/setup", json={"password": STRONG}, headers=thief)
    assert setup.status_code == 200
    totp = pyotp.TOTP(setup.json()["secret"])
    code = totp.at(time.time())
    assert client.post("/auth/otp/confirm", json={"code": code}, headers=thief).status_code == 422
    guessed = client.post("/auth/otp/confirm", json={"code": code, "password": "a guess"}, headers=thief)
    assert guessed.status_code == 401
    assert client.post("/auth/otp/confirm", json={"code": code, "password": STRONG}, headers=thief).status_code == 200
    off = {"password": STRONG}
    assert client.request("DELETE", "/auth/otp", json=off, headers=thief).status_code == 422  # no code
    off["code"] = code  # already used to confirm
    refused = client.request("DELETE", "/auth/otp", json=off, headers=thief)
    assert refused.status_code == 401
    assert refused.json()["type"] == "/problems/invalid-otp"
    off["code"] = totp.at(time.time() + totp.interval)
    assert client.request("DELETE", "/auth/otp", json=off, headers=thief).status_code == 200
    assert log_in(client, "owner", STRONG).status_code == 200


def test_an_admin_resets_a_lost_authenticator_audited(
    one_client: TestClient, one_config: ClusterConfig, one_admin: Account
) -> None:
    client, config, admin = one_client, one_config, one_admin  # user forgetful is this test's
    user = new_account(client, admin, "forgetful", "student")
    secret = client.post("/auth/otp/setup", json={"password": STRONG}, headers=user.auth).json()["secret"]
    code = pyotp.TOTP(secret).now()
    confirmed = client.post("/auth/otp/confirm", json={"code": code, "password": STRONG}, headers=user.auth)
    assert confirmed.status_code == 200
    assert log_in(client, "forgetful", STRONG).json()["type"] == "/problems/otp-required"
    assert client.delete(f"/users/{user.id}/otp", headers=user.auth).status_code == 403  # admins only
    reset = client.delete(f"/users/{user.id}/otp", headers=admin.auth)
    assert reset.status_code == 200, reset.text
    assert client.get("/auth/me", headers=user.auth).status_code == 401  # its sessions ended
    assert log_in(client, "forgetful", STRONG).status_code == 200
    assert ("admin", "2fa-reset", "forgetful") in audit_rows(config)


def test_settings_can_require_2fa_for_a_role(client: TestClient, admin: Account, root: Account) -> None:
    patch_settings(client, root, {"security": {"require_2fa_roles": ["teacher"]}})
    teacher = new_account(client, admin, "tina", "teacher")
    assert log_in(client, "tina", STRONG).json()["must_set_up_2fa"] is True
    refused = client.get("/users", headers=teacher.auth)
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/2fa-setup-required"
    assert client.post("/auth/otp/setup", json={"password": STRONG}, headers=teacher.auth).status_code == 200


# users


@ON_MARIADB_TOO
def test_user_crud_filters_and_pagination(client: TestClient, admin: Account) -> None:
    for i in range(3):
        new_account(client, admin, f"student{i}", "student")
    page = client.get("/users?role=student&page_size=2", headers=admin.auth).json()
    assert (page["total"], len(page["items"]), page["page"]) == (3, 2, 1)
    assert client.get("/users?page_size=1000", headers=admin.auth).status_code == 422
    found = client.get("/users?q=STUDENT1", headers=admin.auth).json()["items"]
    assert [u["username"] for u in found] == ["student1"]
    target = found[0]["id"]
    patched = client.patch(f"/users/{target}", json={"email": "s1@uni.example", "cohort": 2025}, headers=admin.auth)
    assert patched.json()["email"] == "s1@uni.example"
    assert client.patch(f"/users/{target}", json={"email": "nope"}, headers=admin.auth).status_code == 422
    assert client.patch(f"/users/{target}", json={"role": "super_admin"}, headers=admin.auth).status_code == 403
    duplicate = client.post("/users", json={"username": "student1", "role": "student"}, headers=admin.auth)
    assert duplicate.status_code == 409
    assert client.delete(f"/users/{target}", headers=admin.auth).status_code == 204
    assert client.get(f"/users/{target}", headers=admin.auth).status_code == 404


def test_admins_cannot_manage_admins(one_client: TestClient, one_admin: Account, one_root: Account) -> None:
    client, admin, root = one_client, one_admin, one_root  # user admin2 is this test's
    refused = client.post("/users", json={"username": "admin2", "role": "admin"}, headers=admin.auth)
    assert refused.status_code == 403
    made = client.post("/users", json={"username": "admin2", "role": "admin"}, headers=root.auth)
    assert made.status_code == 201
    assert "temporary_password" in made.json()
    assert client.delete(f"/users/{root.id}", headers=admin.auth).status_code == 403


# settings


def test_settings_are_validated_audited_and_only_super_admins_change_them(
    client: TestClient, admin: Account, root: Account
) -> None:
    current = client.get("/settings", headers=admin.auth).json()
    assert current["security"]["bcrypt_rounds"] == 12
    assert client.patch("/settings", json={"course": {"max_credits": 30}}, headers=admin.auth).status_code == 403
    for bad, key in [
        ({"security": {"bcrypt_rounds": 4}}, "security.bcrypt_rounds"),
        ({"course": {"max_credits": "lots"}}, "course.max_credits"),
        ({"queue": {"colour": "red"}}, "queue.colour"),
        ({"notifications": {"email_enabled": True}}, "notifications"),
    ]:
        refused = client.patch("/settings", json=bad, headers=root.auth)
        assert refused.status_code == 422, bad
        assert key in refused.json()["detail"], (bad, refused.json()["detail"])
    assert client.get("/settings", headers=admin.auth).json() == current  # nothing changed
    changed = client.patch(
        "/settings",
        json={"course": {"max_credits": 30}, "notifications": {"smtp_password": "s3cret"}},
        headers=root.auth,
    )
    assert changed.status_code == 200
    assert changed.json()["course"]["max_credits"] == 30
    assert changed.json()["notifications"]["smtp_password"] == "********"
    assert changed.json()["version"] == current["version"] + 1
    audit = client.get("/settings/audit", headers=admin.auth).json()["items"][0]
    assert audit["by"] == "super_admin"
    assert audit["changes"]["course"] == {"max_credits": 30}


def test_secret_settings_are_masked_in_the_audit_and_sealed_in_the_replicated_state(
    client: TestClient, config: ClusterConfig, admin: Account, root: Account
) -> None:
    secret = "smtp-pass-6f1d2a"
    patch_settings(client, root, {"notifications": {"smtp_password": secret, "sms_webhook_token": "tok-9c8b7a"}})
    ctx = client.app_state["ctx"]
    assert ctx.cluster.settings().notifications.smtp_password == secret  # what the sender uses
    audit = client.get("/settings/audit", headers=admin.auth)
    assert secret not in audit.text
    assert "tok-9c8b7a" not in audit.text
    assert audit.json()["items"][0]["changes"]["notifications"]["smtp_password"] == "********"
    assert secret not in client.get("/settings", headers=admin.auth).text
    patch_settings(client, root, {"notifications": {"smtp_password": "********", "smtp_host": "mail.example"}})
    assert ctx.cluster.settings().notifications.smtp_password == secret  # the mask sent back changes nothing
    snapshot = pickle.dumps(ctx.cluster.raft.model)  # what a Raft dump file holds
    assert secret.encode() not in snapshot
    on_disk = [f for f in (config.data_dir / "raft").iterdir() if f.is_file()]
    assert on_disk  # the journal at least
    for path in on_disk:
        assert secret.encode() not in path.read_bytes(), path.name
