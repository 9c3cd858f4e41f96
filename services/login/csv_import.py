"""Reading a CSV of users: every row checked, every problem reported with its line number."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from pydantic import ValidationError
from starlette.requests import Request

from cluster.settings import SecuritySettings
from services.common.auth import Principal
from services.common.problems import Forbidden, UnsupportedMediaType, ValidationFailed
from services.login.models import UserCreate
from services.login.passwords import policy_problems
from services.login.users import check_manages

COLUMNS = ("username", "role", "full_name", "email", "phone", "student_number", "cohort", "department", "password")
REQUIRED = ("username", "role")
MAX_ROWS = 10_000


@dataclass(frozen=True)
class CsvUser:
    line: int
    body: UserCreate


async def read_user_csv(request: Request, actor: Principal, policy: SecuritySettings) -> list[CsvUser]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("text/csv", "application/csv"):
        raise UnsupportedMediaType("send the file as text/csv")
    try:
        text = (await request.body()).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(
            "the file is not UTF-8", errors=[{"line": 0, "field": "", "reason": "not UTF-8"}]
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    errors: list[dict[str, object]] = []
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    if missing or unknown:
        reason = "; ".join(
            ([f"missing column(s): {', '.join(missing)}"] if missing else [])
            + ([f"unknown column(s): {', '.join(unknown)}"] if unknown else [])
        )
        raise ValidationFailed(f"line 1: {reason}", errors=[{"line": 1, "field": "", "reason": reason}])
    users: list[CsvUser] = []
    seen: dict[str, int] = {}
    numbers: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if len(users) + len(errors) >= MAX_ROWS:
            errors.append({"line": line, "field": "", "reason": f"more than {MAX_ROWS} rows"})
            break
        if None in row:
            errors.append({"line": line, "field": "", "reason": "more values than columns"})
            continue
        values = {k.strip(): (v.strip() if v else "") for k, v in row.items() if k}
        data = {k: v for k, v in values.items() if v != ""}
        data["must_change_password"] = True
        try:
            body = UserCreate.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                errors.append({"line": line, "field": ".".join(map(str, err["loc"])), "reason": err["msg"]})
            continue
        row_errors = []
        try:
            check_manages(actor, body.role)
        except Forbidden as exc:
            row_errors.append({"line": line, "field": "role", "reason": exc.detail})
        if body.password:
            row_errors += [
                {"line": line, "field": "password", "reason": p}
                for p in policy_problems(body.password, policy, body.username)
            ]
        if body.username in seen:
            row_errors.append({"line": line, "field": "username", "reason": f"repeats line {seen[body.username]}"})
        if body.student_number and body.student_number in numbers:
            row_errors.append(
                {"line": line, "field": "student_number", "reason": f"repeats line {numbers[body.student_number]}"}
            )
        seen.setdefault(body.username, line)
        if body.student_number:
            numbers.setdefault(body.student_number, line)
        errors += row_errors
        if not row_errors:
            users.append(CsvUser(line, body))
    if not errors and not users:
        errors.append({"line": 2, "field": "", "reason": "no rows"})
    if errors:
        raise ValidationFailed(f"{len(errors)} problem(s) in the file; nothing was created", errors=errors)
    return users
