"""Notifications on real processes: a removal, a waitlist promotion and a password reset are mailed."""

from __future__ import annotations

import httpx
import pytest

from ops.localcluster import wait_for
from tests.cluster.conftest import MakeCluster
from tests.cluster.test_registrar import open_registration, started, token
from tests.conftest import MailCatcher

pytestmark = pytest.mark.cluster


def test_removal_promotion_and_password_reset_reach_the_users_by_mail(
    make_cluster: MakeCluster, smtp_server: MailCatcher
) -> None:
    cluster = started(make_cluster({"login": 1, "course_data": 1, "teacher": 1, "student": 1}))
    login, student_url = cluster.url("login-1"), cluster.url("student-1")
    admin, superuser = token(cluster, 1, "admin"), token(cluster, 2, "super_admin")
    mail = {
        "email_enabled": True,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_server.port,
        "smtp_starttls": False,
        "retry_base_seconds": 0.2,
    }
    assert httpx.patch(f"{login}/settings", json={"notifications": mail}, headers=superuser).status_code == 200
    ids = {}
    for name in ("ann", "ben"):
        made = httpx.post(
            f"{login}/users",
            json={"username": name, "role": "student", "full_name": name.title(), "email": f"{name}@example.edu"},
            headers=admin,
        )
        assert made.status_code == 201, made.text
        ids[name] = made.json()["id"]
    course = open_registration(cluster, admin, capacity=1)
    # the course belongs to no teacher: let an admin-made course be taught by a teacher (named by username)
    tess = httpx.post(f"{login}/users", json={"username": "tess", "role": "teacher"}, headers=admin).json()["id"]
    taught = httpx.patch(f"{cluster.url('course_data-1')}/courses/{course}", json={"teacher_id": "tess"}, headers=admin)
    assert (taught.status_code, taught.json()["teacher_id"]) == (200, tess)
    ann, ben = (token(cluster, ids[n], "student") for n in ("ann", "ben"))
    enroll = {"course_id": course}
    assert httpx.post(f"{student_url}/student/enrollments", json=enroll, headers=ann).status_code == 201
    assert httpx.post(f"{student_url}/student/enrollments", json=enroll, headers=ben).status_code == 202
    assert smtp_server.messages == []  # enrolling and waiting are answered, not mailed

    removed = httpx.request(
        "DELETE",
        f"{cluster.url('teacher-1')}/teacher/courses/{course}/students/{ids['ann']}",
        json={"reason": "the course is for second-years"},
        headers=token(cluster, tess, "teacher"),
    )
    assert removed.status_code == 204, removed.text
    wait_for(lambda: smtp_server.to("ann@example.edu") and smtp_server.to("ben@example.edu"), 15, "two messages")
    [to_ann] = smtp_server.to("ann@example.edu")
    assert str(to_ann["Subject"]) == "You were removed from CS101"
    assert "the course is for second-years" in to_ann.get_content()
    [to_ben] = smtp_server.to("ben@example.edu")
    assert str(to_ben["Subject"]) == "You are enrolled in CS101"
    assert to_ben["To"] == "Ben <ben@example.edu>"

    reset = httpx.post(f"{login}/users/{ids['ben']}/password-reset", headers=admin)
    assert reset.status_code == 200
    wait_for(lambda: len(smtp_server.to("ben@example.edu")) == 2, 15, "the reset message")
    about_reset = smtp_server.to("ben@example.edu")[1]
    assert str(about_reset["Subject"]) == "Your password was reset"
    assert reset.json()["temporary_password"] not in about_reset.get_content()  # never by mail

    outbox = httpx.get(f"{cluster.url('course_data-1')}/notifications?status=sent", headers=admin).json()
    assert {(n["user_id"], n["kind"]) for n in outbox["items"]} == {
        (ids["ann"], "removal"),
        (ids["ben"], "waitlist-promotion"),
    }
    assert httpx.get(f"{login}/notifications", headers=token(cluster, ids["ann"], "student")).status_code == 403
