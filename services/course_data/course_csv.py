"""Reading a CSV of courses: every row validated as the API would, every bad row reported by line.

Columns: `code,title,department,teacher_id,teacher_name,credits,capacity,meetings,
prerequisites,location,description` (code, title, credits and capacity required).
`meetings` reads like `Mon 09:00-10:30; Wed 09:00-10:30`, `prerequisites` like `CS101 CS102`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import ValidationError
from starlette.requests import Request

from services.common.csv_body import CsvRows
from services.course_data.models import CourseIn
from services.course_data.rules import WEEKDAYS

COLUMNS = (
    "code",
    "title",
    "department",
    "teacher_id",
    "teacher_name",
    "credits",
    "capacity",
    "meetings",
    "prerequisites",
    "location",
    "description",
)
REQUIRED = ("code", "title", "credits", "capacity")
MAX_ROWS = 10_000
_MEETING = re.compile(r"^(?P<day>[A-Za-z]{3})[a-z]*\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$")
_DAYS = {d.lower(): i for i, d in enumerate(WEEKDAYS)}


@dataclass(frozen=True)
class CsvCourse:
    line: int
    body: CourseIn


def meetings_of(text: str) -> list[dict[str, object]]:
    """`Mon 09:00-10:30; Wed 9:00-10:30` as meeting objects (ValueError naming the bad part)."""
    found: list[dict[str, object]] = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        match = _MEETING.match(part)
        if match is None or match["day"].lower() not in _DAYS:
            raise ValueError(f"{part!r} is not like 'Mon 09:00-10:30'")
        day, start, end = _DAYS[match["day"].lower()], match["start"].zfill(5), match["end"].zfill(5)
        found.append({"weekday": day, "start": start, "end": end})
    return found


async def read_course_csv(request: Request) -> tuple[CsvRows, list[CsvCourse]]:
    rows = await CsvRows.of(request, COLUMNS, REQUIRED, MAX_ROWS)
    found: list[CsvCourse] = []
    seen: dict[str, int] = {}
    for line, values in rows:
        data: dict[str, object] = dict(values)
        try:
            data["meetings"] = meetings_of(values.get("meetings", ""))
        except ValueError as exc:
            rows.problem(line, "meetings", str(exc))
            continue
        data["prerequisites"] = re.split(r"[\s;,]+", values["prerequisites"]) if "prerequisites" in values else []
        try:
            body = CourseIn.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                rows.problem(line, ".".join(map(str, err["loc"])), err["msg"])
            continue
        if body.code in seen:
            rows.problem(line, "code", f"repeats line {seen[body.code]}")
            continue
        seen[body.code] = line
        found.append(CsvCourse(line, body))
    return rows, found
