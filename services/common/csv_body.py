"""CSV request bodies: the media type, UTF-8, the header, and every bad row with its line number.

Importers read the rows with `CsvRows`, add their own problems to `errors`, and call
`refuse_if_any` before writing anything: a file is taken whole or not at all.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence

from starlette.requests import Request

from services.common.problems import UnsupportedMediaType, ValidationFailed

CSV_TYPES = ("text/csv", "application/csv")


class CsvRows:
    def __init__(self, text: str, columns: Sequence[str], required: Sequence[str], max_rows: int) -> None:
        self.errors: list[dict[str, object]] = []
        self._reader = csv.DictReader(io.StringIO(text, newline=""))
        self._max_rows = max_rows
        header = [h.strip() for h in self._reader.fieldnames or []]
        missing = [c for c in required if c not in header]
        unknown = [c for c in header if c not in columns]
        if missing or unknown:
            reason = "; ".join(
                ([f"missing column(s): {', '.join(missing)}"] if missing else [])
                + ([f"unknown column(s): {', '.join(unknown)}"] if unknown else [])
            )
            raise ValidationFailed(f"line 1: {reason}", errors=[{"line": 1, "field": "", "reason": reason}])

    @classmethod
    async def of(cls, request: Request, columns: Sequence[str], required: Sequence[str], max_rows: int) -> CsvRows:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in CSV_TYPES:
            raise UnsupportedMediaType("send the file as text/csv")
        try:
            text = (await request.body()).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationFailed(
                "the file is not UTF-8", errors=[{"line": 0, "field": "", "reason": "not UTF-8"}]
            ) from None
        return cls(text, columns, required, max_rows)

    def problem(self, line: int, field: str, reason: str) -> None:
        self.errors.append({"line": line, "field": field, "reason": reason})

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        """(line number, stripped values without the empty ones) for each row of the right shape."""
        for count, row in enumerate(self._reader, start=1):
            line = self._reader.line_num
            if count > self._max_rows:
                self.problem(line, "", f"more than {self._max_rows} rows")
                return
            if None in row:
                self.problem(line, "", "more values than columns")
                continue
            yield line, {k.strip(): v.strip() for k, v in row.items() if k and v and v.strip()}

    def refuse_if_any(self, taken: int, verb: str = "created") -> None:
        """Raise 422 listing every problem (or that the file had no rows); nothing has been written."""
        if not self.errors and not taken:
            self.problem(2, "", "no rows")
        if self.errors:
            raise ValidationFailed(f"{len(self.errors)} problem(s) in the file; nothing was {verb}", errors=self.errors)
