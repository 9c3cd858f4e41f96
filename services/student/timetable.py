"""A student's week: the JSON timetable and its iCalendar form (one weekly event per meeting)."""

from __future__ import annotations

import datetime as dt
from typing import Any

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


def _at(day: dt.date, hhmm: str) -> dt.datetime:
    hours, minutes = hhmm.split(":")
    return dt.datetime.combine(day, dt.time(int(hours), int(minutes)))


def calendar_of(
    student: str, week: list[dict[str, Any]], term_start: dt.date, term_end: dt.date, stamp: dt.datetime
) -> bytes:
    """iCalendar: each meeting weekly from its first day in the term until the term ends.

    Times are floating (local to the campus), as a printed timetable is.
    """
    cal = Calendar()
    cal.add("prodid", PRODUCT)
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"Timetable of {student}")
    until = dt.datetime.combine(term_end, dt.time(23, 59, 59))
    for slot in week:
        first = _first_on_or_after(term_start, slot["weekday"])
        if first > term_end:
            continue
        event = Event()
        event.add("uid", f"{slot['course_id']}-{slot['weekday']}-{slot['start'].replace(':', '')}@course-selection")
        event.add("dtstamp", stamp)
        event.add("summary", f"{slot['code']} {slot['title']}")
        event.add("dtstart", _at(first, slot["start"]))
        event.add("dtend", _at(first, slot["end"]))
        event.add("rrule", {"freq": "weekly", "until": until})
        if slot["location"]:
            event.add("location", slot["location"])
        cal.add_component(event)
    return bytes(cal.to_ical())
