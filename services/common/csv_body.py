"""CSV request bodies: the media type (checked in the request), then, in the import worker,
UTF-8, the header, and every row of the right shape with its line number.

An import's request only checks the media type and keeps the bytes (`csv_bytes`); the
job decodes and splits them in the worker process (`parse_csv`), so a large file costs
the event loop nothing but reading it.
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


def parse_csv(data: bytes, columns: Sequence[str], required: Sequence[str], max_rows: int) -> ParsedCsv:
    """Split a CSV file (runs in the worker). A bad encoding or header stops at line 0 or 1;
    otherwise every malformed row is reported and the well-formed ones returned."""
    parsed = ParsedCsv()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        parsed.errors.append(problem(0, "", "the file is not UTF-8"))
        return parsed
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in reader.fieldnames or []]
    except csv.Error as exc:
        parsed.errors.append(problem(1, "", f"not CSV: {exc}"))
        return parsed
    missing = [c for c in required if c not in header]
    unknown = [c for c in header if c not in columns]
    if missing or unknown:
        reason = "; ".join(
            ([f"missing column(s): {', '.join(missing)}"] if missing else [])
            + ([f"unknown column(s): {', '.join(unknown)}"] if unknown else [])
        )
        parsed.errors.append(problem(1, "", reason))
        return parsed
    try:
        for count, row in enumerate(reader, start=1):
            line = reader.line_num
            if count > max_rows:
                parsed.errors.append(problem(line, "", f"more than {max_rows} rows"))
                break
            if None in row:
                parsed.errors.append(problem(line, "", "more values than columns"))
                continue
            values = {k.strip(): v.strip() for k, v in row.items() if k and v and v.strip()}
            parsed.rows.append((line, values))
    except csv.Error as exc:
        parsed.errors.append(problem(reader.line_num, "", f"not CSV: {exc}"))
    if not parsed.rows and not parsed.errors:
        parsed.errors.append(problem(2, "", "no rows"))
    return parsed


def chunks(items: Sequence[tuple[int, dict[str, str]]], size: int) -> list[list[tuple[int, dict[str, str]]]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
