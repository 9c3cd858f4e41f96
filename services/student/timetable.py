"""A student's week: the JSON timetable and its iCalendar form (one weekly event per meeting).

The iCalendar carries the term's time zone: each event's times have its TZID, and the
calendar its VTIMEZONE (for the term's dates), so a calendar anywhere shows the meetings at
the campus's local time, across a change to or from summer time too. Events start on the
first meeting day on or after the term's first day and recur until its last day ends.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

PRODUCT = "-//course-selection//timetable//EN"


def week_of(enrolled: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every meeting of the enrolled courses, in weekly order."""
    slots = [
        {
            "weekday": m["weekday"],
            "day": m["day"],
            "start": m["start"],
            "end": m["end"],
            "course_id": c["id"],
            "code": c["code"],
            "title": c["title"],
            "location": c["location"],
        }
        for c in enrolled
        for m in c["meetings"]
    ]
    return sorted(slots, key=lambda s: (s["weekday"], s["start"], s["code"]))


def _first_on_or_after(day: dt.date, weekday: int) -> dt.date:
    return day + dt.timedelta(days=(weekday - day.weekday()) % 7)


def _at(day: dt.date, hhmm: str, tz: ZoneInfo) -> dt.datetime:
    hours, minutes = hhmm.split(":")
    return dt.datetime.combine(day, dt.time(int(hours), int(minutes)), tz)


def calendar_of(
    student: str,
    week: list[dict[str, Any]],
    term_start: dt.date,
    term_end: dt.date,
    stamp: dt.datetime,
    timezone: str = "UTC",
) -> bytes:
    """iCalendar: each meeting weekly from its first day in the term until the term ends, at
    the local time of the term's `timezone` (an IANA name)."""
    tz = ZoneInfo(timezone)
    cal = Calendar()
    cal.add("prodid", PRODUCT)
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"Timetable of {student}")
    cal.add("x-wr-timezone", timezone)
    # (RFC 5545: with a TZID start, UNTIL is in UTC)
    until = dt.datetime.combine(term_end, dt.time(23, 59, 59), tz).astimezone(dt.UTC)
    for slot in week:
        first = _first_on_or_after(term_start, slot["weekday"])
        if first > term_end:
            continue
        event = Event()
        event.add("uid", f"{slot['course_id']}-{slot['weekday']}-{slot['start'].replace(':', '')}@course-selection")
        event.add("dtstamp", stamp)
        event.add("summary", f"{slot['code']} {slot['title']}")
        event.add("dtstart", _at(first, slot["start"], tz))
        event.add("dtend", _at(first, slot["end"], tz))
        event.add("rrule", {"freq": "weekly", "until": until})
        if slot["location"]:
            event.add("location", slot["location"])
        cal.add_component(event)
    cal.add_missing_timezones(term_start - dt.timedelta(days=7), term_end + dt.timedelta(days=7))
    return bytes(cal.to_ical())
