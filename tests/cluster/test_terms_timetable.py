"""A student's enrollments and timetable per term, through the student service: the next
term's .ics is in that term's time zone (VTIMEZONE, TZID), parsed with a calendar parser."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import httpx
from icalendar import Calendar

from ops.localcluster import LocalCluster
from tests.cluster.test_registrar import account, token


def test_the_next_terms_timetable_is_in_its_time_zone(shared: LocalCluster) -> None:
    cluster = shared  # the term 2026-fall (and its course CS101) and user terms1 are this test's alone
    admin = token(cluster, 1, "admin")
    course_data, student = cluster.url("course_data-1"), cluster.url("student-1")
    fall = {
        "code": "2026-fall",
        "starts_on": "2026-09-01",
        "ends_on": "2026-12-18",
        "timezone": "Europe/Berlin",
    }
    assert httpx.post(f"{course_data}/terms", json=fall, headers=admin).status_code == 201
    now = time.time()
    windows = {"windows": [{"opens_at": now - 60, "closes_at": now + 3600, "drop_deadline": now + 7200}]}
    assert httpx.put(f"{course_data}/windows?term=2026-fall", json=windows, headers=admin).status_code == 200
    made = httpx.post(
        f"{course_data}/courses",
        json={
            "term": "2026-fall",
            "code": "CS101",
            "title": "Programming",
            "credits": 3,
            "capacity": 5,
            "meetings": [{"weekday": 0, "start": "09:00", "end": "10:30"}],
        },
        headers=admin,
    )
    assert made.status_code == 201, made.text
    me = token(cluster, account(cluster, "terms1"), "student")
    enrolled = httpx.post(f"{student}/student/enrollments", json={"course_id": made.json()["id"]}, headers=me)
    assert enrolled.status_code == 201, enrolled.text

    mine = httpx.get(f"{student}/student/enrollments?term=2026-fall", headers=me).json()
    assert (mine["term"]["code"], [c["code"] for c in mine["enrolled"]]) == ("2026-fall", ["CS101"])
    assert httpx.get(f"{student}/student/enrollments", headers=me).json()["enrolled"] == []  # the current term's
    assert httpx.get(f"{student}/student/timetable?term=nope", headers=me).status_code == 422
    week = httpx.get(f"{student}/student/timetable?term=2026-fall", headers=me).json()
    assert (week["term"]["timezone"], week["term_start"], week["credits"]) == ("Europe/Berlin", "2026-09-01", 3)

    ics = httpx.get(f"{student}/student/timetable?term=2026-fall", headers={**me, "Accept": "text/calendar"})
    assert ics.status_code == 200, ics.text
    calendar = Calendar.from_ical(ics.content)
    assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
    [event] = calendar.walk("VEVENT")
    assert event["dtstart"].params["TZID"] == "Europe/Berlin"
    assert event["dtstart"].dt == dt.datetime(2026, 9, 7, 9, tzinfo=ZoneInfo("Europe/Berlin"))  # first Monday
    until = event["rrule"]["UNTIL"][0]
    assert until == dt.datetime(2026, 12, 18, 23, 59, 59, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(dt.UTC)
