"""The users import as a job: every row checked (in the worker), every problem reported at once.

Phases: parsing and validating in the worker process, in chunks; checking names and
student numbers against the accounts that exist; hashing the passwords given in the
file (in the worker, a few at a time); writing everything in one fenced transaction.
Rows without a password get no hash at all: a one-time set-password token by email
(services/login/password_tokens.py). Problems are reported for every row, repeats within
the file and names already taken included, and nothing is created unless all rows are valid.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any, NamedTuple

from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from cluster.settings import SecuritySettings
from services.common.auth import Principal
from services.common.csv_body import Problem, problem, rows_of
from services.common.jobs import ImportRefused, Job
from services.common.problems import Forbidden
from services.login.models import STUDENT_NUMBER, USERNAME, UserCreate
from services.login.password_tokens import invite
from services.login.passwords import UNUSABLE_PASSWORD, hash_passwords, policy_problems
from services.login.users import audit, check_manages
from storage.dialects import insert_rows
from storage.schemas.login import users

COLUMNS = (
    "username",
    "role",
    "full_name",
    "email",
    "phone",
    "student_number",
    "cohort",
    "program",
    "year",
    "priority_group",
    "department",
    "password",
)
REQUIRED = ("username", "role")
MAX_ROWS = 50_000
CHUNK = 1000  # rows per worker call (its answer is unpickled holding the GIL: keep it small)
HASH_CHUNK = 8  # passwords per worker call (bcrypt: ~0.25 s each at cost 12)
BATCH = 500  # rows per statement (and per lookup of existing names)


class CheckedUser(NamedTuple):  # (a tuple: cheap to send back from the worker)
    line: int
    values: dict[str, Any] | None  # the account's columns, without the password; None if invalid
    password: str | None
    problems: list[Problem]
    username: str | None  # the row's username and student number when well formed, even if another
    student_number: str | None  # field is bad: repeats and names taken are reported in the same answer


def check_users(
    text: str, header: list[str], before: int, policy: SecuritySettings, actor: Principal
) -> tuple[list[Problem], list[CheckedUser]]:
    """Validate a chunk's rows on their own (runs in the worker): the model, the role, the password policy."""
    parsed = rows_of(text, header, before)
    checked = []
    for line, values in parsed.rows:
        problems: list[Problem] = []
        name, number = values.get("username", ""), values.get("student_number", "")
        name_ok = name if re.match(USERNAME, name) else None
        number_ok = number if number and re.match(STUDENT_NUMBER, number) else None
        try:
            body = UserCreate.model_validate(values)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                problems.append(problem(line, ".".join(map(str, err["loc"])), err["msg"]))
            checked.append(CheckedUser(line, None, None, problems, name_ok, number_ok))
            continue
        try:
            check_manages(actor, body.role)
        except Forbidden as exc:
            problems.append(problem(line, "role", exc.detail))
        if body.password:
            problems.extend(problem(line, "password", p) for p in policy_problems(body.password, policy, body.username))
        # A password from the file was chosen by the admin: the user changes it at first sign-in.
        account = {**body.model_dump(exclude={"password"}), "must_change_password": bool(body.password)}
        checked.append(CheckedUser(line, None if problems else account, body.password, problems, name_ok, number_ok))
    return parsed.errors, checked


async def _check_taken(job: Job, keyed: list[CheckedUser]) -> None:
    """Names and student numbers that already exist: a problem on every row that uses one."""
    for start in range(0, len(keyed), BATCH):
        batch = keyed[start : start + BATCH]
        names = [c.username for c in batch if c.username]
        numbers = [c.student_number for c in batch if c.student_number]
        async with job.runner.database.read() as conn:
            rows = (
                await conn.execute(
                    select(users.c.username, users.c.student_number).where(
                        or_(users.c.username.in_(names), users.c.student_number.in_(numbers))
                    )
                )
            ).all()
        taken_names = {r.username for r in rows}
        taken_numbers = {r.student_number for r in rows if r.student_number}
        for c in batch:
            if c.username in taken_names:
                job.problem(c.line, "username", f"{c.username!r} already exists")
            if c.student_number in taken_numbers:
                job.problem(c.line, "student_number", f"{c.student_number!r} already exists")
        await job.progress("checking", start + len(batch), len(keyed))


async def run_user_import(job: Job, data: bytes, policy: SecuritySettings, rounds: int) -> None:
    """Check every row, then hash the passwords the file gives at cost `rounds` and write the accounts."""
    found: list[CheckedUser] = []
    keyed: list[CheckedUser] = []  # every row with a well-formed name or number, checked against the accounts
    names: dict[str, int] = {}
    numbers: dict[str, int] = {}
    async for chunk in job.csv_chunks(data, COLUMNS, REQUIRED, MAX_ROWS, CHUNK, check_users, policy, job.actor):
        for checked in chunk:
            job.errors.extend(checked.problems)
            name, number = checked.username, checked.student_number
            repeated = False
            if name and name in names:
                job.problem(checked.line, "username", f"repeats line {names[name]}")
                repeated = True
            if number and number in numbers:
                job.problem(checked.line, "student_number", f"repeats line {numbers[number]}")
                repeated = True
            if name:
                names.setdefault(name, checked.line)
            if number:
                numbers.setdefault(number, checked.line)
            if name or number:
                keyed.append(checked)
            if not repeated and checked.values is not None:
                found.append(checked)
    await _check_taken(job, keyed)
    job.refuse_if_errors()
    hashes = await _hash_given_passwords(job, found, rounds)
    await _write(job, found, hashes)


async def _hash_given_passwords(job: Job, found: list[CheckedUser], rounds: int) -> dict[int, str]:
    """bcrypt hashes (by line) of the passwords the file gives, made in the worker a few at a time."""
    given = [c for c in found if c.password]
    hashes: dict[int, str] = {}
    if given:
        await job.progress("hashing", 0, len(given))
    for start in range(0, len(given), HASH_CHUNK):
        part = given[start : start + HASH_CHUNK]
        made = await job.in_worker(hash_passwords, [c.password for c in part], rounds)
        hashes.update(zip([c.line for c in part], made, strict=True))
        await job.progress("hashing", start + len(part), len(given))
    return hashes


async def _write(job: Job, found: list[CheckedUser], hashes: dict[int, str]) -> None:
    """Every account in one fenced transaction, in batches; tokens and messages for the rest."""
    now = time.time()
    ids: dict[str, int] = {}
    numbers: dict[str, int] = {}  # student number -> id, of the rows that have one
    invited = 0
    await job.progress("writing", 0, len(found))  # (the transaction's own progress is not visible)
    try:
        async with job.writing() as conn:
            for start in range(0, len(found), BATCH):
                batch = found[start : start + BATCH]
                values = [
                    {
                        **c.values,
                        "password_hash": hashes.get(c.line, UNUSABLE_PASSWORD),
                        "created_at": now,
                        "updated_at": now,
                        "password_changed_at": now,
                    }
                    for c in batch
                    if c.values is not None
                ]
                await insert_rows(conn, users, values)
                names = [v["username"] for v in values]
                lookup = select(users.c.username, users.c.id).where(users.c.username.in_(names))
                made = {r[0]: r[1] for r in await conn.execute(lookup)}
                ids.update(made)
                numbers.update({v["student_number"]: made[v["username"]] for v in values if v["student_number"]})
                to_invite = [
                    (made[v["username"]], v["username"]) for v in values if v["password_hash"] == UNUSABLE_PASSWORD
                ]
                await invite(conn, to_invite, job.actor.username, now)
                invited += len(to_invite)
                await asyncio.sleep(0)
            await audit(conn, job.actor.username, "user-import", "", created=len(ids), job=job.id)
            job.result = {
                "created": len(ids),
                "ids": ids,
                "student_numbers": numbers,
                "set_password_tokens_sent": invited,
            }
    except IntegrityError:
        raise ImportRefused("a username or student number was taken meanwhile; nothing was created") from None
