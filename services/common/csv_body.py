"""CSV request bodies: the media type (checked in the request), then, in the import worker,
UTF-8, the header, and every row of the right shape with its line number.

An import's request only checks the media type and keeps the bytes (`csv_bytes`). In
the worker process, `plan_csv` checks the encoding and the header and cuts the file into
chunks of whole rows (character offsets, and the line each starts after), and then each
chunk is read there by `rows_of` and validated. The master's process so holds no object
per row but the validated ones: a large file costs its event loop (and its garbage
collector) little more than reading it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypedDict

from starlette.requests import Request

from services.common.problems import UnsupportedMediaType

CSV_TYPES = ("text/csv", "application/csv")


class Problem(TypedDict):
    line: int
    field: str
    reason: str


def problem(line: int, field: str, reason: str) -> Problem:
    return {"line": line, "field": field, "reason": reason}


@dataclass
class CsvPlan:
    """The header, and the file cut into chunks: (start, end, lines before, rows) each."""

    header: list[str] = field(default_factory=list)
    chunks: list[tuple[int, int, int, int]] = field(default_factory=list)
    rows: int = 0
    errors: list[Problem] = field(default_factory=list)


@dataclass
class ParsedCsv:
    """Rows as (line number, stripped values without the empty ones), and what was wrong."""

    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)


async def csv_bytes(request: Request) -> bytes:
    """The body of a `text/csv` request (415 otherwise); nothing is parsed here."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in CSV_TYPES:
        raise UnsupportedMediaType("send the file as text/csv")
    return await request.body()


def decoded(data: bytes) -> str:
    return data.decode("utf-8-sig")


def plan_csv(data: bytes, columns: Sequence[str], required: Sequence[str], max_rows: int, chunk: int) -> CsvPlan:
    """Check the encoding and the header and cut the rows into chunks (runs in the worker).
    A bad encoding or header ends the plan there, with no chunks."""
    plan = CsvPlan()
    try:
        text = decoded(data)
    except UnicodeDecodeError:
        plan.errors.append(problem(0, "", "the file is not UTF-8"))
        return plan
    source = io.StringIO(text, newline="")
    reader = csv.reader(source)
    try:
        plan.header = [h.strip() for h in next(reader, [])]
        missing = [c for c in required if c not in plan.header]
        unknown = [c for c in plan.header if c not in columns]
        if missing or unknown:
            reason = "; ".join(
                ([f"missing column(s): {', '.join(missing)}"] if missing else [])
                + ([f"unknown column(s): {', '.join(unknown)}"] if unknown else [])
            )
            plan.errors.append(problem(1, "", reason))
            return plan
        start, before, count = source.tell(), reader.line_num, 0
        for row in reader:
            if not row:
                continue  # a blank line is no row
            if plan.rows == max_rows:
                plan.errors.append(problem(reader.line_num, "", f"more than {max_rows} rows"))
                break
            plan.rows += 1
            count += 1
            if count == chunk:
                plan.chunks.append((start, source.tell(), before, count))
                start, before, count = source.tell(), reader.line_num, 0
        if count:
            plan.chunks.append((start, source.tell(), before, count))
    except csv.Error as exc:
        plan.errors.append(problem(reader.line_num, "", f"not CSV: {exc}"))
        plan.chunks = []
        return plan
    if not plan.rows and not plan.errors:
        plan.errors.append(problem(2, "", "no rows"))
    return plan


def rows_of(text: str, header: list[str], before: int) -> ParsedCsv:
    """The rows of one chunk (runs in the worker), numbered as lines of the whole file."""
    parsed = ParsedCsv()
    reader = csv.DictReader(io.StringIO(text, newline=""), fieldnames=header)
    for row in reader:
        line = before + reader.line_num
        if None in row:
            parsed.errors.append(problem(line, "", "more values than columns"))
            continue
        parsed.rows.append((line, {k: v.strip() for k, v in row.items() if k and v and v.strip()}))
    return parsed
