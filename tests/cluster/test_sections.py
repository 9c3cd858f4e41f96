"""Sections through the student service: a section group taken together (or waitlisted
whole), a missing kind refused with its type, section to section swaps, and the timetable's
credits counting an offering once."""

from __future__ import annotations

import time
from typing import Any

import httpx

from ops.localcluster import LocalCluster
from tests.cluster.test_registrar import account, token


def test_a_student_takes_a_lecture_with_a_lab_and_swaps_between_sections(shared: LocalCluster) -> None:
    cluster = shared  # the offering BIO1 and users sections1, sections2 are this test's alone
    admin = token(cluster, 1, "admin")
    course_data, student = cluster.url("course_data-1"), cluster.url("student-1")
    now = time.time()
    windows = {"windows": [{"opens_at": now - 60, "closes_at": now + 3600, "drop_deadline": now + 7200}]}
    assert httpx.put(f"{course_data}/windows", json=windows, headers=admin).status_code == 200

    def section(name: str, kind: str, weekday: int, capacity: int = 3) -> int:
        body: dict[str, Any] = {
            "code": "BIO1",
            "section": name,
            "kind": kind,
            "title": "Biology",
            "credits": 4,
            "capacity": capacity,
            "meetings": [{"weekday": weekday, "start": "09:00", "end": "10:00"}],
        }
        made = httpx.post(f"{course_data}/courses", json=body, headers=admin)
        assert made.status_code == 201, made.text
        return int(made.json()["id"])

    lecture, lab, other_lab = section("L01", "lecture", 0), section("B01", "lab", 1), section("B02", "lab", 2)
    me = token(cluster, account(cluster, "sections1"), "student")
    alone = httpx.post(f"{student}/student/enrollments", json={"course_id": lecture}, headers=me)
    assert alone.status_code == 409, alone.text
    assert (alone.json()["type"], alone.json()["missing_kinds"]) == ("/problems/section-required", ["lab"])
    both_ways = httpx.post(
        f"{student}/student/enrollments", json={"course_id": lecture, "section_ids": [lecture]}, headers=me
    )
    assert both_ways.status_code == 422
    taken = httpx.post(f"{student}/student/enrollments", json={"section_ids": [lecture, lab]}, headers=me)
    assert taken.status_code == 201, taken.text
    assert (taken.json()["outcome"], taken.json()["section_ids"]) == ("accepted", [lecture, lab])
    swapped = httpx.post(
        f"{student}/student/enrollments/swap", json={"drop_course_id": lab, "add_course_id": other_lab}, headers=me
    )
    assert swapped.status_code == 200, swapped.text
    mine = httpx.get(f"{student}/student/enrollments", headers=me).json()
    assert sorted((c["section"], c["kind"]) for c in mine["enrolled"]) == [("B02", "lab"), ("L01", "lecture")]
    week = httpx.get(f"{student}/student/timetable", headers=me).json()
    assert week["credits"] == 4  # the offering once, not once per section
    full_lab = section("B03", "lab", 3, capacity=0)
    other = token(cluster, account(cluster, "sections2"), "student")
    waits = httpx.post(f"{student}/student/enrollments", json={"section_ids": [lecture, full_lab]}, headers=other)
    assert waits.status_code == 202, waits.text
    assert (waits.json()["outcome"], waits.json()["waitlist_positions"]) == (
        "waitlisted",
        [{"section_id": full_lab, "position": 1}],
    )
