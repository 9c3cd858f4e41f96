"""Reading a CSV of users: every row checked, every problem reported with its line number."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError
from starlette.requests import Request

from cluster.settings import SecuritySettings
from services.common.auth import Principal
from services.common.csv_body import CsvRows
from services.common.problems import Forbidden
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
    rows = await CsvRows.of(request, COLUMNS, REQUIRED, MAX_ROWS)
    users: list[CsvUser] = []
    seen: dict[str, int] = {}
    numbers: dict[str, int] = {}
    for line, values in rows:
        try:
            body = UserCreate.model_validate({**values, "must_change_password": True})
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                rows.problem(line, ".".join(map(str, err["loc"])), err["msg"])
            continue
        before = len(rows.errors)
        try:
            check_manages(actor, body.role)
        except Forbidden as exc:
            rows.problem(line, "role", exc.detail)
        if body.password:
            for p in policy_problems(body.password, policy, body.username):
                rows.problem(line, "password", p)
        if body.username in seen:
            rows.problem(line, "username", f"repeats line {seen[body.username]}")
        if body.student_number and body.student_number in numbers:
            rows.problem(line, "student_number", f"repeats line {numbers[body.student_number]}")
        seen.setdefault(body.username, line)
        if body.student_number:
            numbers.setdefault(body.student_number, line)
        if len(rows.errors) == before:
            users.append(CsvUser(line, body))
    rows.refuse_if_any(len(users))
    return users
