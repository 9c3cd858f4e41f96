"""Real answers of every service match its OpenAPI document (issue 13, item 6).

A registrar's day on a started cluster, one node per service: accounts, the catalogue
and its imports, windows, holds, completed courses, a teacher's courses and roster, a
student's enrollments with the queue off and on, the queue's own routes, settings, and
the cluster and operations routes, with their refusals (401, 403, 404, 409, 415, 422).
Every answer is checked against the document its service serves (`tests.spec_check`):
its status documented, its media type listed, its body valid for the schema.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyotp
import pytest

from cluster.config import SERVICES
from ops.localcluster import LocalCluster, wait_for
from ops.tokens import signing_key
from tests.api.login_kit import STRONG, forge
from tests.cluster.conftest import MakeCluster
from tests.spec_check import SpecCheck

pytestmark = pytest.mark.cluster
START_TIMEOUT = 180


@dataclass
class Calls:
    """Sends requests to the cluster's nodes; every answer is checked against its service's spec."""

    cluster: LocalCluster
    specs: dict[str, SpecCheck] = field(default_factory=dict)
    wrong: list[str] = field(default_factory=list)
    sent: int = 0
    unexpected: list[str] = field(default_factory=list)

    def __call__(self, service: str, method: str, path: str, expect: int, **kwargs: Any) -> httpx.Response:
        if service not in self.specs:
            document = self.cluster.request(f"{service}-1", "GET", "/openapi.json", headers=self.cluster_token())
            self.specs[service] = SpecCheck(service, document.json())
        kwargs.setdefault("timeout", 30)
        answer = self.cluster.http.request(method, f"{self.cluster.url(f'{service}-1')}{path}", **kwargs)
        for _ in range(3):  # a 503 with Retry-After is the contract's "try again", as a client would
            if answer.status_code != 503 or expect == 503 or "retry-after" not in answer.headers:
                break
            self.check(service, method, path, answer, kwargs.get("json"))
            time.sleep(float(answer.headers["retry-after"]))
            answer = self.cluster.http.request(method, f"{self.cluster.url(f'{service}-1')}{path}", **kwargs)
        self.sent += 1
        if answer.status_code != expect:
            self.unexpected.append(f"{service} {method} {path}: {answer.status_code} {answer.text[:300]}")
        self.check(service, method, path, answer, kwargs.get("json"))
        return answer

    def check(self, service: str, method: str, path: str, answer: httpx.Response, body: Any) -> None:
        """Record every way the answer (and the JSON body sent) differs from the service's spec."""
        self.wrong += [
            f"{service} {line}"
            for line in self.specs[service].check(
                method,
                path,
                answer.status_code,
                answer.headers.get("content-type", ""),
                answer.content,
                body,
            )
        ]

    def cluster_token(self) -> dict[str, str]:
        return {"X-Internal-Token": self.cluster.tokens.mint()}


def forged(cluster: LocalCluster, user_id: int, role: str, **claims: Any) -> dict[str, str]:
    signed = forge(signing_key(cluster.config), sub=str(user_id), role=role, sid=secrets.token_hex(8), **claims)
    return {"Authorization": f"Bearer {signed}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def operations(call: Calls, service: str, admin: dict[str, str]) -> None:
    internal = call.cluster_token
    call(service, "GET", "/health", 200)
    call(service, "GET", "/ready", 200)
    call(service, "GET", "/metrics", 200)
    call(service, "GET", "/openapi.json", 200)
    call(service, "GET", "/openapi.json", 200, headers=admin)
    call(service, "GET", "/openapi.json", 401, headers={"Authorization": "Bearer forged"})
    call(service, "GET", "/docs", 200)
    call(service, "GET", "/cluster/status", 200, headers=internal())
    call(service, "GET", "/cluster/status", 200, headers=admin)
    call(service, "GET", "/cluster/status", 401)
    call(service, "GET", "/cluster/state", 200, headers=internal())
    call(service, "POST", "/cluster/write-check", 200, headers=internal(), json={})
    call(service, "POST", "/cluster/write-check", 422, headers=internal(), json={"pause_ms": 5})
    call(service, "POST", "/cluster/members", 409, headers=internal(), json=_self_member(call, service))
    call(service, "POST", "/cluster/members", 422, headers=internal(), json={"node_id": "x", "raft": "nowhere"})
    call(service, "DELETE", "/cluster/members/nobody", 404, headers=internal())
    call(service, "DELETE", f"/cluster/members/{service}-1", 409, headers=internal())


def _self_member(call: Calls, service: str) -> dict[str, str]:
    node = next(n for n in call.cluster.config.nodes if n.id == f"{service}-1")
    return {"node_id": node.id, "raft": str(node.raft)}


def job(call: Calls, service: str, answer: httpx.Response, admin: dict[str, str]) -> dict[str, Any]:
    url = answer.json()["url"]

    def finished() -> dict[str, Any] | None:
        body: dict[str, Any] = call(service, "GET", url, 200, headers=admin).json()
        return body if body["status"] in ("succeeded", "failed") else None

    return wait_for(finished, 60, f"job {url}", interval=0.2)


def login_service(call: Calls) -> tuple[dict[str, str], dict[str, str]]:
    """The login service's routes; returns (admin, super_admin) headers."""
    first = call("login", "POST", "/auth/login", 200, json={"username": "admin", "password": "admin123"}).json()
    call("login", "GET", "/users", 403, headers=bearer(first["access_token"]))  # must change the password
    changed = call(
        "login",
        "POST",
        "/auth/password",
        200,
        json={"old_password": "admin123", "new_password": STRONG},
        headers=bearer(first["access_token"]),
    ).json()
    admin = bearer(changed["access_token"])
    call("login", "POST", "/auth/password", 401, json={"old_password": "wrong", "new_password": STRONG}, headers=admin)
    call("login", "POST", "/auth/login", 401, json={"username": "admin", "password": "wrong"})
    call("login", "POST", "/auth/login", 422, json={"username": ""})
    refreshed = call("login", "POST", "/auth/refresh", 200, json={"refresh_token": changed["refresh_token"]}).json()
    admin = bearer(refreshed["access_token"])
    call("login", "POST", "/auth/refresh", 401, json={"refresh_token": changed["refresh_token"]})  # reused
    again = call("login", "POST", "/auth/login", 200, json={"username": "admin", "password": STRONG}).json()
    admin = bearer(again["access_token"])
    call("login", "GET", "/auth/me", 200, headers=admin)
    call("login", "GET", "/auth/me", 401)
    root_first = call("login", "POST", "/auth/login", 200, json={"username": "super_admin", "password": "super123"})
    root = bearer(
        call(
            "login",
            "POST",
            "/auth/password",
            200,
            json={"old_password": "super123", "new_password": STRONG},
            headers=bearer(root_first.json()["access_token"]),
        ).json()["access_token"]
    )
    call("login", "GET", "/.well-known/jwks.json", 200)
    call("login", "POST", "/auth/keys/rotate", 200, headers=root)  # the tokens below are the new key's
    call("login", "POST", "/auth/keys/rotate", 403, headers=admin)

    teacher = call(
        "login",
        "POST",
        "/users",
        201,
        json={"username": "tina", "role": "teacher", "full_name": "Tina Teach", "email": "tina@example.org"},
        headers=admin,
    ).json()
    student = call(
        "login",
        "POST",
        "/users",
        201,
        json={
            "username": "sam",
            "role": "student",
            "password": STRONG,
            "must_change_password": False,
            "student_number": "S-1",
            "cohort": 2025,
            "phone": "+15551234567",
        },
        headers=admin,
    ).json()
    call("login", "POST", "/users", 409, json={"username": "sam", "role": "student"}, headers=admin)
    call("login", "POST", "/users", 422, json={"username": "x y", "role": "wizard"}, headers=admin)
    call("login", "GET", "/users", 200, headers=admin)
    call("login", "GET", "/users?role=student&q=sa&page=1&page_size=5", 200, headers=admin)
    call("login", "GET", "/users?page=0", 422, headers=admin)
    call("login", "GET", f"/users/{student['id']}", 200, headers=admin)
    call("login", "GET", "/users/999999", 404, headers=admin)
    call("login", "PATCH", f"/users/{teacher['id']}", 200, json={"department": "CS"}, headers=admin)
    call("login", "PATCH", f"/users/{teacher['id']}", 422, json={"role": None}, headers=admin)
    call("login", "POST", f"/users/{teacher['id']}/password-reset", 200, headers=admin)
    call("login", "POST", f"/users/{teacher['id']}/sessions/revoke", 200, headers=admin)
    call("login", "POST", f"/users/{teacher['id']}/unlock", 200, headers=admin)
    call("login", "DELETE", f"/users/{teacher['id']}/otp", 200, headers=admin)
    call("login", "GET", f"/internal/users/{teacher['id']}/contact", 200, headers=call.cluster_token())
    call("login", "GET", "/internal/users/999999/contact", 404, headers=call.cluster_token())

    sam = call("login", "POST", "/auth/login", 200, json={"username": "sam", "password": STRONG}).json()
    sam_auth = bearer(sam["access_token"])
    call("login", "GET", "/users", 403, headers=sam_auth)
    started = call("login", "POST", "/auth/otp/setup", 200, json={"password": STRONG}, headers=sam_auth)
    assert started.status_code == 200, started.text  # (the rest needs its secret)
    setup = started.json()
    call("login", "POST", "/auth/otp/setup", 401, json={"password": "wrong"}, headers=sam_auth)
    code = pyotp.TOTP(setup["secret"]).now()
    call("login", "POST", "/auth/otp/confirm", 422, json={"password": STRONG, "code": "000000"}, headers=sam_auth)
    call("login", "POST", "/auth/otp/confirm", 200, json={"password": STRONG, "code": code}, headers=sam_auth)
    call("login", "POST", "/auth/otp/confirm", 409, json={"password": STRONG, "code": code}, headers=sam_auth)
    call("login", "POST", "/auth/login", 401, json={"username": "sam", "password": STRONG})  # a code is needed
    later = pyotp.TOTP(setup["secret"]).at(time.time() + 30)  # the code of confirm cannot be used again
    sam = call("login", "POST", "/auth/login", 200, json={"username": "sam", "password": STRONG, "otp": later}).json()
    wrong = {"password": STRONG, "code": "000000"}
    call("login", "DELETE", "/auth/otp", 401, json=wrong, headers=bearer(sam["access_token"]))
    call("login", "DELETE", f"/users/{student['id']}/otp", 200, headers=admin)
    sam = call("login", "POST", "/auth/login", 200, json={"username": "sam", "password": STRONG}).json()
    call("login", "DELETE", "/auth/otp", 409, json=wrong, headers=bearer(sam["access_token"]))
    call("login", "POST", "/auth/logout", 204, headers=bearer(sam["access_token"]))

    call("login", "GET", "/settings", 200, headers=admin)
    call("login", "PATCH", "/settings", 200, json={"course": {"term_start": "2026-09-01"}}, headers=root)
    call("login", "PATCH", "/settings", 422, json={"course": {"max_credits": 0}}, headers=root)
    call("login", "PATCH", "/settings", 403, json={"course": {"max_credits": 20}}, headers=admin)
    call("login", "GET", "/settings/audit", 200, headers=admin)
    call("login", "GET", "/notifications", 200, headers=admin)
    call("login", "GET", "/notifications?status=nonsense", 422, headers=admin)

    csv = "username,role,full_name,email\numa,student,Uma,uma@example.org\nvic,teacher,Vic,\n"
    imported = call("login", "POST", "/users/import", 202, content=csv, headers={**admin, "Content-Type": "text/csv"})
    assert job(call, "login", imported, admin)["status"] == "succeeded"
    bad = call(
        "login",
        "POST",
        "/users/import",
        202,
        content="username,role\n,wizard\n",
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert job(call, "login", bad, admin)["status"] == "failed"
    call("login", "POST", "/users/import", 415, content="{}", headers={**admin, "Content-Type": "application/json"})
    call("login", "GET", "/imports/999999", 404, headers=admin)
    call("login", "POST", "/auth/password/set", 400, json={"token": "x" * 30, "new_password": STRONG})
    call("login", "DELETE", f"/users/{teacher['id']}", 204, headers=admin)
    operations(call, "login", admin)
    return admin, root


def people(call: Calls, admin: dict[str, str]) -> dict[str, int]:
    """The people course_data's references name (they must exist, with the right role): ids by username."""
    made = {}
    for username, role in (("tom", "teacher"), ("s60", "student"), ("s61", "student"), ("s70", "student")):
        user = call("login", "POST", "/users", 201, json={"username": username, "role": role}, headers=admin).json()
        made[username] = int(user["id"])
    return made


def course_data_service(call: Calls, admin: dict[str, str], who: dict[str, int]) -> dict[str, int]:
    """The catalogue, windows, holds, completed courses and their imports; returns course ids by code."""
    now = time.time()
    windows = {"windows": [{"opens_at": now - 60, "closes_at": now + 3600, "drop_deadline": now + 7200}]}
    call("course_data", "PUT", "/windows", 200, json=windows, headers=admin)
    call(
        "course_data",
        "PUT",
        "/windows",
        422,
        json={"windows": [{"opens_at": now, "closes_at": now - 1}]},
        headers=admin,
    )
    call("course_data", "GET", "/windows", 200, headers=admin)
    ids = {}
    for code, weekday, capacity, needs in (("CS101", 0, 1, []), ("CS102", 1, 5, ["CS101"]), ("CS103", 0, 5, [])):
        made = call(
            "course_data",
            "POST",
            "/courses",
            201,
            json={
                "code": code,
                "title": f"Course {code}",
                "credits": 3,
                "capacity": capacity,
                "teacher_id": who["tom"],
                "meetings": [{"weekday": weekday, "start": "09:00", "end": "10:30"}],
                "prerequisites": needs,
            },
            headers=admin,
        )
        ids[code] = made.json()["id"]
    spare = call(
        "course_data",
        "POST",
        "/courses",
        201,
        json={"code": "TMP1", "title": "T", "credits": 1, "capacity": 1},
        headers=admin,
    )
    call("course_data", "DELETE", f"/courses/{spare.json()['id']}", 204, headers=admin)
    call("course_data", "DELETE", "/courses/999999", 404, headers=admin)
    call(
        "course_data",
        "POST",
        "/courses",
        409,
        json={"code": "CS101", "title": "x", "credits": 1, "capacity": 1},
        headers=admin,
    )
    call("course_data", "POST", "/courses", 422, json={"code": "?", "credits": -1}, headers=admin)
    call(
        "course_data",
        "POST",
        "/courses",
        403,
        json={"code": "CS9", "title": "x", "credits": 1, "capacity": 1},
        headers=forged(call.cluster, 50, "student"),
    )
    listed = call("course_data", "GET", "/courses?q=cs&has_seats=true&day=mon", 200, headers=admin)
    call(
        "course_data",
        "GET",
        "/courses?q=cs&has_seats=true&day=mon",
        304,
        headers={**admin, "If-None-Match": listed.headers["etag"]},
    )
    call("course_data", "GET", "/courses?day=someday", 422, headers=admin)
    call("course_data", "GET", "/courses", 401)
    call("course_data", "GET", f"/courses/{ids['CS101']}", 200, headers=admin)
    call("course_data", "GET", "/courses/999999", 404, headers=admin)
    call(
        "course_data",
        "PATCH",
        f"/courses/{ids['CS103']}",
        200,
        json={"location": "Room 1", "teacher_id": None},
        headers=admin,
    )
    call("course_data", "PATCH", f"/courses/{ids['CS103']}", 422, json={"title": None}, headers=admin)

    hold = call(
        "course_data", "POST", "/holds", 201, json={"student_id": who["s60"], "reason": "fees"}, headers=admin
    ).json()
    call("course_data", "GET", "/holds", 200, headers=admin)
    call("course_data", "DELETE", f"/holds/{hold['id']}", 204, headers=admin)
    call("course_data", "DELETE", f"/holds/{hold['id']}", 404, headers=admin)
    call(
        "course_data",
        "POST",
        f"/students/{who['s60']}/completed",
        200,
        json={"course_codes": ["CS101", "MA1"]},
        headers=admin,
    )
    call("course_data", "GET", f"/students/{who['s60']}/completed", 200, headers=admin)
    call("course_data", "DELETE", f"/students/{who['s60']}/completed/MA1", 204, headers=admin)
    call("course_data", "DELETE", f"/students/{who['s60']}/completed/MA1", 404, headers=admin)

    csv = {**admin, "Content-Type": "text/csv"}
    courses = "code,title,credits,capacity,meetings\nIMP1,Imported,2,10,Tue 11:00-12:00\n"
    assert (
        job(
            call,
            "course_data",
            call("course_data", "POST", "/courses/import", 202, content=courses, headers=csv),
            admin,
        )["status"]
        == "succeeded"
    )
    failed = call(
        "course_data", "POST", "/courses/import", 202, content="code,title,credits,capacity\nIMP1,x,a,1\n", headers=csv
    )
    assert job(call, "course_data", failed, admin)["status"] == "failed"
    completed = f"student_id,course_code\n{who['s61']},CS101\n"
    assert (
        job(
            call,
            "course_data",
            call("course_data", "POST", "/completed/import", 202, content=completed, headers=csv),
            admin,
        )["status"]
        == "succeeded"
    )
    call(
        "course_data",
        "POST",
        "/completed/import",
        415,
        content="{}",
        headers={**admin, "Content-Type": "application/json"},
    )
    call("course_data", "GET", "/audit", 200, headers=admin)
    call("course_data", "GET", "/notifications", 200, headers=admin)

    internal = call.cluster_token
    call("course_data", "GET", f"/internal/students/{who['s60']}/courses", 200, headers=internal())
    call("course_data", "GET", f"/internal/students/{who['s60']}/catalogue", 200, headers=internal())
    decided = {"action": "enroll", "student_id": 62, "course_id": ids["CS103"], "actor": "t"}
    call("course_data", "POST", "/internal/ledger", 200, json=decided, headers=internal())
    batch = {"requests": [{**decided, "queue_request_id": "req-000001", "admitted_at": time.time(), "student_id": 63}]}
    call("course_data", "POST", "/internal/ledger/batch", 200, json=batch, headers=internal())
    operations(call, "course_data", admin)
    return ids


def teacher_service(call: Calls, ids: dict[str, int], admin: dict[str, str], who: dict[str, int]) -> dict[str, str]:
    me = forged(call.cluster, who["tom"], "teacher")
    call("teacher", "GET", "/teacher/courses", 200, headers=me)
    made = call(
        "teacher",
        "POST",
        "/teacher/courses",
        201,
        json={
            "code": "T7-1",
            "title": "Teaching",
            "credits": 2,
            "capacity": 3,
            "meetings": [{"weekday": 4, "start": "14:00", "end": "15:00"}],
        },
        headers=me,
    ).json()
    call("teacher", "POST", "/teacher/courses", 422, json={"code": "T7-2"}, headers=me)
    call(
        "teacher",
        "PATCH",
        f"/teacher/courses/{made['id']}",
        200,
        json={"capacity": 4, "description": "More"},
        headers=me,
    )
    call("teacher", "PATCH", "/teacher/courses/999999", 404, json={"capacity": 4}, headers=me)
    call(
        "teacher", "POST", f"/teacher/courses/{ids['CS101']}/permits", 201, json={"student_id": who["s70"]}, headers=me
    )
    call("teacher", "POST", "/teacher/courses/999999/permits", 404, json={"student_id": who["s70"]}, headers=me)
    call("teacher", "GET", "/teacher/courses", 403, headers=forged(call.cluster, 50, "student"))
    operations(call, "teacher", admin)
    return me


def student_service(
    call: Calls,
    ids: dict[str, int],
    teacher: dict[str, str],
    admin: dict[str, str],
    root: dict[str, str],
    who: dict[str, int],
) -> None:
    ann = forged(call.cluster, who["s60"], "student", cohort=2025)
    ben = forged(call.cluster, who["s61"], "student", cohort=2025)
    call("student", "GET", "/student/courses", 200, headers=ann)
    call("student", "GET", "/student/courses?day=someday", 422, headers=ann)
    call("student", "POST", "/student/enrollments", 201, json={"course_id": ids["CS101"]}, headers=ann)
    call("student", "POST", "/student/enrollments", 202, json={"course_id": ids["CS101"]}, headers=ben)  # full
    call("student", "POST", "/student/enrollments", 409, json={"course_id": ids["CS103"]}, headers=ann)  # clash
    call("student", "POST", "/student/enrollments", 422, json={"course_id": 0}, headers=ann)
    call(
        "student",
        "POST",
        "/student/enrollments/swap",
        200,
        json={"drop_course_id": ids["CS101"], "add_course_id": ids["CS102"]},
        headers=ann,
    )
    call(
        "student",
        "POST",
        "/student/enrollments/swap",
        409,
        json={"drop_course_id": ids["CS101"], "add_course_id": ids["CS103"]},
        headers=ann,
    )
    call("student", "GET", "/student/enrollments", 200, headers=ann)
    call("student", "GET", "/student/enrollments", 200, headers=ben)
    call("student", "GET", "/student/timetable", 200, headers=ann)
    call("student", "GET", "/student/timetable", 409, headers={**ann, "Accept": "text/calendar"})  # no term_end
    call("login", "PATCH", "/settings", 200, json={"course": {"term_end": "2026-12-20"}}, headers=root)
    wait_for(
        lambda: (
            call.cluster.http.get(
                f"{call.cluster.url('student-1')}/student/timetable", headers={**ann, "Accept": "text/calendar"}
            ).status_code
            == 200
        ),
        30,
        "the term dates on the student node",
    )
    call("student", "GET", "/student/timetable", 200, headers={**ann, "Accept": "text/calendar"})
    call("student", "DELETE", f"/student/enrollments/{ids['CS102']}", 200, headers=ann)
    call("student", "DELETE", f"/student/enrollments/{ids['CS102']}", 409, headers=ann)
    plan_service(call, ids, ann, who["s60"])

    course = ids["CS101"]
    call("teacher", "GET", f"/teacher/courses/{course}/roster", 200, headers=teacher)
    call("teacher", "GET", f"/teacher/courses/{course}/roster", 200, headers={**teacher, "Accept": "text/csv"})
    call("teacher", "GET", "/teacher/courses/999999/roster", 404, headers=teacher)
    call("teacher", "PATCH", f"/teacher/courses/{course}", 409, json={"capacity": 0}, headers=teacher)
    call(
        "teacher",
        "DELETE",
        f"/teacher/courses/{course}/students/{who['s61']}",
        204,
        json={"reason": "moved"},
        headers=teacher,
    )
    call(
        "teacher",
        "DELETE",
        f"/teacher/courses/{course}/students/{who['s61']}",
        404,
        json={"reason": "moved"},
        headers=teacher,
    )
    call("course_data", "PATCH", f"/courses/{ids['CS103']}", 409, json={"capacity": 0}, headers=admin)
    call("course_data", "DELETE", f"/courses/{ids['CS103']}", 409, headers=admin)
    operations(call, "student", admin)


def plan_service(call: Calls, ids: dict[str, int], ann: dict[str, str], ann_id: int) -> None:
    """A plan (issue 16): saved, read, refused with its bad fields, validated, submitted, deleted."""
    internal = call.cluster_token
    plan = {"items": [{"course_id": ids["CS102"], "alternatives": [ids["CS101"]]}]}
    call("student", "GET", "/student/plan", 200, headers=ann)
    call("student", "PUT", "/student/plan", 200, json=plan, headers=ann)
    call("student", "PUT", "/student/plan", 422, json={"items": [{"course_id": 999999}]}, headers=ann)
    call("student", "GET", "/student/plan", 200, headers=ann)
    call("student", "POST", "/student/plan/validate", 200, headers=ann)
    call("student", "POST", "/student/plan/submit", 422, headers=ann)  # no Idempotency-Key
    call("student", "POST", "/student/plan/submit", 202, headers={**ann, "Idempotency-Key": "plan-1"})
    call("student", "POST", "/student/plan/submit", 202, headers={**ann, "Idempotency-Key": "plan-1"})
    path = f"/internal/students/{ann_id}/plan"
    call("course_data", "GET", path, 200, headers=internal())
    call("course_data", "POST", f"{path}/validate?cohort=2025", 200, headers=internal())
    call("course_data", "PUT", path, 422, json={"items": [{"course_id": 999999}]}, headers=internal())
    body = {"student_id": 83, "idempotency_key": "p-1", "items": [{"course_id": ids["CS103"], "alternatives": []}]}
    call("queue", "POST", "/internal/queue/plans", 202, json=body, headers=internal())
    call("queue", "POST", "/internal/queue/plans", 422, json={"student_id": 83, "items": []}, headers=internal())
    call("student", "DELETE", "/student/plan", 204, headers=ann)
    call("student", "POST", "/student/plan/submit", 409, headers={**ann, "Idempotency-Key": "plan-2"})  # none saved


def queue_service(call: Calls, ids: dict[str, int], admin: dict[str, str], root: dict[str, str]) -> None:
    cam = forged(call.cluster, 80, "student", cohort=2025)
    call("queue", "GET", "/queue/opening", 200, headers=cam)
    call("queue", "GET", "/queue/opening", 403, headers=admin)
    call("login", "PATCH", "/settings", 200, json={"queue": {"enabled": True}}, headers=root)
    first = call(
        "queue",
        "POST",
        "/queue/requests",
        202,
        json={"action": "enroll", "course_id": ids["CS103"]},
        headers={**cam, "Idempotency-Key": "k-1"},
    )
    request_id = first.json()["queue_request_id"]
    call("queue", "GET", f"/queue/requests/{request_id}?wait=10", 200, headers=cam)
    call("queue", "GET", "/queue/requests/nothing-here", 404, headers=cam)
    call("queue", "DELETE", f"/queue/requests/{request_id}", 409, headers=cam)
    call("queue", "POST", "/queue/requests", 422, json={"action": "elope"}, headers={**cam, "Idempotency-Key": "k-2"})
    call("queue", "GET", "/queue/stats", 200, headers=admin)
    wait_for(lambda: call.cluster.http.get(f"{call.cluster.url('student-1')}/health").status_code == 200, 5, "student")
    dee = forged(call.cluster, 81, "student", cohort=2025)
    call("student", "POST", "/student/enrollments", 201, json={"course_id": ids["CS103"]}, headers=dee)
    call(
        "queue",
        "POST",
        "/internal/queue/requests?wait=10",
        200,
        json={"action": "enroll", "course_id": ids["CS102"], "student_id": 82, "idempotency_key": "k-9"},
        headers=call.cluster_token(),
    )
    operations(call, "queue", admin)


def test_every_answer_matches_the_spec(make_cluster: MakeCluster) -> None:
    cluster = make_cluster(dict.fromkeys(SERVICES, 1))
    cluster.start()
    cluster.wait_ready(timeout=START_TIMEOUT)  # five nodes starting on two busy cores
    for service in SERVICES:
        wait_for(lambda s=service: cluster.master(s, "login-1"), START_TIMEOUT, f"a {service} master")
    call = Calls(cluster)
    admin, root = login_service(call)
    who = people(call, admin)
    ids = course_data_service(call, admin, who)
    teacher = teacher_service(call, ids, admin, who)
    student_service(call, ids, teacher, admin, root, who)
    queue_service(call, ids, admin, root)
    assert not call.unexpected, "\n".join(call.unexpected)
    assert call.sent > 150
    assert not call.wrong, "\n".join(call.wrong)
