"""Every CSV the system writes, written here: the csv module, and formula cells neutralized.

A spreadsheet runs a cell that begins with `=`, `+`, `-` or `@` (or a tab or carriage
return, which some of them skip first) as a formula: a course title `=HYPERLINK(...)` in an
export would run on the registrar's machine (CSV injection). Such a cell is written with a
leading `'`, as OWASP recommends, so it shows as the text it is. Numbers are written as
numbers (a negative number is not text a person typed, so it keeps its sign).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from starlette.responses import Response

from services.common.instants import unix

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MEDIA_TYPE = "text/csv; charset=utf-8"


def neutral(cell: object) -> object:
    """The cell as it may be written: text that a spreadsheet would run gets a leading `'`."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A CSV document (a header line, then the rows), every cell through `neutral`."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([neutral(c) for c in header])
    writer.writerows([neutral(c) for c in row] for row in rows)
    return out.getvalue()


def csv_response(text: str, filename: str) -> Response:
    """A CSV download named `filename` (made of safe characters only)."""
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in filename)
    return Response(text, media_type=MEDIA_TYPE, headers={"Content-Disposition": f'attachment; filename="{safe}"'})


def wants_csv(accept: str, format_param: str | None) -> bool:
    """CSV if asked by `?format=csv` or by an Accept header naming text/csv."""
    if format_param is not None:
        return format_param.lower() == "csv"
    return "text/csv" in accept.lower()


def iso_time(instant: float | str | None) -> str:
    """An instant (Unix time, or ISO 8601 as an answer gives it) as ISO 8601 in UTC to the
    second, for people reading a file ("" for none)."""
    return "" if instant is None else datetime.fromtimestamp(unix(instant), UTC).isoformat(timespec="seconds")


ROSTER_HEADER = (
    "course",
    "list",
    "position",
    "student_id",
    "student_number",
    "full_name",
    "email",
    "since",
    "via_permit",
)


def roster_csv(roster: dict[str, object]) -> str:
    """A roster (as `GET /courses/{id}/roster` answers it in JSON) as CSV: the enrolled
    students, then the waitlist in order. One shape for the admin's and the teacher's download."""
    course = roster["course"]
    code = course["code"] if isinstance(course, dict) else ""
    rows: list[list[object]] = []
    for kind, key, since in (("enrolled", "students", "enrolled_at"), ("waitlist", "waitlist", "joined_at")):
        entries = roster.get(key)
        for n, entry in enumerate(entries if isinstance(entries, list) else [], 1):
            rows.append(
                [
                    code,
                    kind,
                    entry.get("position", n),
                    entry["student_id"],
                    entry.get("student_number") or "",
                    entry.get("full_name") or "",
                    entry.get("email") or "",
                    iso_time(entry.get(since)),
                    entry.get("via_permit", "") if kind == "enrolled" else "",
                ]
            )
    return csv_text(ROSTER_HEADER, rows)
