"""A bounded schemathesis run against every service of a started cluster (issue 12, finding 10).

Each operation of each service's full OpenAPI document gets a few generated requests,
valid and invalid ones, with the token of the role the service is for and an internal
token. No answer may be a server error, and every status code must be documented for
its route. The examples per operation are bounded so the whole run stays within a few
minutes on two busy cores, and derived from the test's name (`derandomize`): every run
sends the same requests, so a finding is reproducible and the test is not flaky.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from cluster.internal_auth import HEADER, InternalTokens
from cluster.secrets import load_or_create_secret
from tests.support import Processes, cluster_toml, ready, wait_until

pytestmark = pytest.mark.cluster
START_TIMEOUT = 90
EXAMPLES = {GenerationMode.POSITIVE: 6, GenerationMode.NEGATIVE: 4}  # per operation
# Changing the Raft membership by fuzz would take the cluster apart; these have their own tests.
SKIPPED = {("POST", "/cluster/members"), ("DELETE", "/cluster/members/{node_id}")}
# The role each service's token has; login and course_data get the widest.
ROLES = {
    "course_data": "super_admin",
    "teacher": "teacher",
    "student": "student",
    "queue": "student",
    "login": "super_admin",
}
ORDER = ("course_data", "teacher", "student", "queue", "login")  # login last: it may delete the accounts used


@dataclass
class Findings:
    server_errors: list[str] = field(default_factory=list)
    undocumented: set[str] = field(default_factory=set)
    calls: int = 0


@dataclass
class Cluster:
    ports: dict[str, int]
    data: Path

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[f'{service}-1']}"

    def internal(self) -> dict[str, str]:
        return {HEADER: InternalTokens(load_or_create_secret(self.data, "cluster"), "fuzz").mint()}


@pytest.fixture
def cluster(tmp_path: Path, processes: Processes) -> Cluster:
    text, ports = cluster_toml(tmp_path / "data")
    (tmp_path / "cluster.toml").write_text(text)
    processes.run_py("--config", str(tmp_path / "cluster.toml"))
    for node_id, port in ports.items():
        wait_until(lambda p=port: ready(p), START_TIMEOUT, f"{node_id} ready")
    return Cluster(ports, tmp_path / "data")


def _token(login: str, username: str, password: str) -> str:
    answer = httpx.post(f"{login}/auth/login", json={"username": username, "password": password}, timeout=30)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def _accounts(cluster: Cluster) -> dict[str, str]:
    """An access token per role: the seed accounts after their password change, a teacher and a student."""
    login, strong = cluster.url("login"), "correct horse battery staple"
    tokens = {}
    for username, old in (("admin", "admin123"), ("super_admin", "super123")):
        first = _token(login, username, old)
        changed = httpx.post(
            f"{login}/auth/password",
            json={"old_password": old, "new_password": strong},
            headers={"Authorization": f"Bearer {first}"},
            timeout=30,
        )
        assert changed.status_code == 200, changed.text
        tokens[username] = changed.json()["access_token"]
    for username, role in (("fuzz-teacher", "teacher"), ("fuzz-student", "student")):
        made = httpx.post(
            f"{login}/users",
            json={"username": username, "role": role, "password": strong, "must_change_password": False},
            headers={"Authorization": f"Bearer {tokens['admin']}"},
            timeout=30,
        )
        assert made.status_code == 201, made.text
        tokens[role] = _token(login, username, strong)
    return tokens


def _documented(status: int, codes: tuple[str, ...]) -> bool:
    return "default" in codes or str(status) in codes or f"{status // 100}XX" in codes


def _fuzz(cluster: Cluster, service: str, auth: dict[str, str], found: Findings) -> None:
    base = cluster.url(service)
    spec = httpx.get(f"{base}/openapi.json", headers=cluster.internal(), timeout=30).json()
    for result in schemathesis.openapi.from_dict(spec).get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        for mode, examples in EXAMPLES.items():
            try:
                _examples(cluster, f"{service} {operation.method.upper()} {operation.path}", operation, mode, examples)(
                    base, auth, found
                )
            except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                continue


def _examples(
    cluster: Cluster, label: str, operation: schemathesis.APIOperation, mode: GenerationMode, examples: int
) -> Callable[[str, dict[str, str], Findings], None]:
    codes = tuple(str(code) for code in operation.responses.status_codes)

    def run(base: str, auth: dict[str, str], found: Findings) -> None:
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.generate],  # no shrinking: a finding is reported as generated
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def send(case: schemathesis.Case) -> None:
            response = case.call(base_url=base, headers={**auth, **cluster.internal()}, timeout=30)
            found.calls += 1
            if response.status_code >= 500:
                found.server_errors.append(f"{label} -> {response.status_code}: {response.text[:300]}")
            elif not _documented(response.status_code, codes):
                found.undocumented.add(f"{label} -> {response.status_code}")

        send()

    return run


def test_no_server_errors_and_every_status_documented(cluster: Cluster) -> None:
    tokens = _accounts(cluster)
    found = Findings()
    for service in ORDER:
        _fuzz(cluster, service, {"Authorization": f"Bearer {tokens[ROLES[service]]}"}, found)
    assert found.calls > 500
    assert not found.server_errors, "\n".join(found.server_errors)
    assert not found.undocumented, "\n".join(sorted(found.undocumented))
