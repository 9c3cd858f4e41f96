"""The timetable's iCalendar: one weekly event per meeting, inside the term."""

from __future__ import annotations

import datetime as dt

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
    parsed = Calendar.from_ical(calendar_of("ada", week_of(COURSES), start, end, stamp))
    events = list(parsed.walk("VEVENT"))
    assert [(str(e["summary"]), e["dtstart"].dt) for e in events] == [("CS101 Programming", dt.datetime(2027, 1, 6, 9))]
    longer = Calendar.from_ical(calendar_of("ada", week_of(COURSES), start, dt.date(2027, 4, 30), stamp))
    firsts = {(str(e["summary"]), e["dtstart"].dt, e["dtend"].dt) for e in longer.walk("VEVENT")}
    assert firsts == {
        ("CS101 Programming", dt.datetime(2027, 1, 11, 9), dt.datetime(2027, 1, 11, 10, 30)),
        ("CS101 Programming", dt.datetime(2027, 1, 6, 9), dt.datetime(2027, 1, 6, 10, 30)),
        ("PH100 Physics", dt.datetime(2027, 1, 10, 8), dt.datetime(2027, 1, 10, 9)),
    }
    rules = {str(e["summary"]): e["rrule"] for e in longer.walk("VEVENT")}
    assert rules["PH100 Physics"]["FREQ"] == ["WEEKLY"]
    assert rules["PH100 Physics"]["UNTIL"] == [dt.datetime(2027, 4, 30, 23, 59, 59)]
    assert len({str(e["uid"]) for e in longer.walk("VEVENT")}) == 3
