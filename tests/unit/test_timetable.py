"""The timetable's iCalendar: one weekly event per meeting, inside the term, in its time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from icalendar import Calendar

from services.student.timetable import calendar_of, week_of

COURSES = [
    {
        "id": 1,
        "code": "CS101",
        "title": "Programming",
        "location": "Hall A",
        "meetings": [
            {"weekday": 2, "day": "Wed", "start": "09:00", "end": "10:30"},
            {"weekday": 0, "day": "Mon", "start": "09:00", "end": "10:30"},
        ],
    },
    {"id": 2, "code": "MA101", "title": "Algebra", "location": "", "meetings": []},
    {
        "id": 3,
        "code": "PH100",
        "title": "Physics",
        "location": "",
        "meetings": [{"weekday": 6, "day": "Sun", "start": "08:00", "end": "09:00"}],
    },
]


def test_week_is_in_weekly_order() -> None:
    assert [(s["code"], s["day"]) for s in week_of(COURSES)] == [("CS101", "Mon"), ("CS101", "Wed"), ("PH100", "Sun")]


def test_each_meeting_recurs_weekly_from_its_first_day_in_the_term() -> None:
    stamp = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
    start, end = dt.date(2027, 1, 6), dt.date(2027, 1, 9)  # Wednesday to Saturday: no Monday, no Sunday
    utc = dt.UTC
    parsed = Calendar.from_ical(calendar_of("ada", week_of(COURSES), start, end, stamp))
    events = list(parsed.walk("VEVENT"))
    at_nine = dt.datetime(2027, 1, 6, 9, tzinfo=utc)
    assert [(str(e["summary"]), e["dtstart"].dt) for e in events] == [("CS101 Programming", at_nine)]
    longer = Calendar.from_ical(calendar_of("ada", week_of(COURSES), start, dt.date(2027, 4, 30), stamp))
    firsts = {(str(e["summary"]), e["dtstart"].dt, e["dtend"].dt) for e in longer.walk("VEVENT")}
    assert firsts == {
        ("CS101 Programming", dt.datetime(2027, 1, 11, 9, tzinfo=utc), dt.datetime(2027, 1, 11, 10, 30, tzinfo=utc)),
        ("CS101 Programming", dt.datetime(2027, 1, 6, 9, tzinfo=utc), dt.datetime(2027, 1, 6, 10, 30, tzinfo=utc)),
        ("PH100 Physics", dt.datetime(2027, 1, 10, 8, tzinfo=utc), dt.datetime(2027, 1, 10, 9, tzinfo=utc)),
    }
    rules = {str(e["summary"]): e["rrule"] for e in longer.walk("VEVENT")}
    assert rules["PH100 Physics"]["FREQ"] == ["WEEKLY"]
    assert rules["PH100 Physics"]["UNTIL"] == [dt.datetime(2027, 4, 30, 23, 59, 59, tzinfo=utc)]
    assert len({str(e["uid"]) for e in longer.walk("VEVENT")}) == 3


def test_the_calendar_carries_the_terms_time_zone_across_a_change_of_offset() -> None:
    """A Berlin term from September to December: VTIMEZONE and TZID, 09:00 local before and
    after summer time ends (25 October), and no meeting past the term's last day."""
    stamp = dt.datetime(2026, 8, 1, tzinfo=dt.UTC)
    start, end = dt.date(2026, 9, 1), dt.date(2026, 12, 18)
    body = calendar_of("ada", week_of(COURSES), start, end, stamp, "Europe/Berlin")
    parsed = Calendar.from_ical(body)
    assert [str(tz["TZID"]) for tz in parsed.walk("VTIMEZONE")] == ["Europe/Berlin"]
    berlin = ZoneInfo("Europe/Berlin")
    events = {(str(e["summary"]), e["dtstart"].dt.weekday()): e for e in parsed.walk("VEVENT")}
    monday = events[("CS101 Programming", 0)]
    assert monday["dtstart"].params["TZID"] == "Europe/Berlin"
    assert monday["dtstart"].dt == dt.datetime(2026, 9, 7, 9, tzinfo=berlin)
    until = monday["rrule"]["UNTIL"][0]
    assert until == dt.datetime(2026, 12, 18, 23, 59, 59, tzinfo=berlin).astimezone(dt.UTC)
    rule = rrulestr(monday["rrule"].to_ical().decode(), dtstart=monday["dtstart"].dt)
    meetings = list(rule)
    assert meetings[0] == dt.datetime(2026, 9, 7, 9, tzinfo=berlin)
    assert meetings[-1].date() == dt.date(2026, 12, 14)
    assert {m.hour for m in meetings} == {9}  # local time, whatever the offset
    assert {m.utcoffset() for m in meetings} == {dt.timedelta(hours=2), dt.timedelta(hours=1)}
    assert all(start <= m.date() <= end for m in meetings)
    assert b"TZID=Europe/Berlin" in body
    assert b"BEGIN:VTIMEZONE" in body
