"""The courses import as a job: every row validated as the API would (in the worker), every
bad row reported at once (codes repeated in the file or already in the catalogue included),
then all courses written in one fenced transaction, or none.

Columns: `code,title,department,teacher_id,teacher_name,credits,capacity,meetings,
prerequisites,location,description,corequisites,consent_required,restrict_program,
restrict_year,restrict_cohort,term,section,kind` (code, title, credits and capacity required).
`meetings` reads like `Mon 09:00-10:30; Wed 09:00-10:30`, `prerequisites` and
`corequisites` like `CS101 CS102`, each `restrict_*` like `CS SE` or `3 4` (the course's
`restrictions`), `consent_required` `true` or `false`, `term` is a term's code or id (empty
or absent: the current term); `section` names a section of the code's offering (empty: a
single section) and `kind` says what it is (empty: lecture); a code is unique within its
term and section, and the ids answered are keyed by code ("CS101 L01" for a section).
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any, NamedTuple

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.context import NodeContext
from services.common.course_models import DETAIL_FIELDS, Restrictions
from services.common.csv_body import Problem, problem, rows_of
from services.common.jobs import ImportRefused, Job
from services.course_data.audit import record
from services.course_data.models import CODE, CourseIn, minutes
from services.course_data.people import named
from services.course_data.rules import RESTRICTION_KINDS, WEEKDAYS
from services.course_data.sections import groups_broken_by
from services.course_data.terms import current_term, find_term
from storage.dialects import insert_rows
from storage.schemas.course_data import (
    consent_courses,
    corequisites,
    course_restrictions,
    courses,
    meetings,
    prerequisites,
)

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
    "corequisites",
    "consent_required",
    "restrict_program",
    "restrict_year",
    "restrict_cohort",
    "term",
    "section",
    "kind",
)
_LISTS = re.compile(r"[\s;,]+")
REQUIRED = ("code", "title", "credits", "capacity")
MAX_ROWS = 10_000
CHUNK = 1000  # rows per worker call (its answer is unpickled holding the GIL: keep it small)
BATCH = 500  # rows per statement (and per lookup of existing codes)
_MEETING = re.compile(r"^(?P<day>[A-Za-z]{3})[a-z]*\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$")
_DAYS = {d.lower(): i for i, d in enumerate(WEEKDAYS)}


class CheckedCourse(NamedTuple):  # (a tuple: cheap to send back from the worker)
    line: int
    values: dict[str, Any] | None  # CourseIn's fields (meetings and prerequisites too); None if invalid
    problems: list[Problem]
    code: str | None  # the row's code if it is one, even when another field is bad (for repeats)
    term: str = ""  # the term the row names ("": the current term)
    section: str = ""  # the section the row names ("": a single section)


def label(code: str, section: str) -> str:
    """A section's name in answers and problems: its code, and its section if it has one."""
    return f"{code} {section}" if section else code


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


def check_courses(text: str, header: list[str], before: int) -> tuple[list[Problem], list[CheckedCourse]]:
    """Validate a chunk's rows as the API would (runs in the worker)."""
    parsed = rows_of(text, header, before)
    checked = []
    for line, values in parsed.rows:
        data: dict[str, object] = dict(values)
        code = values.get("code", "")
        well_formed = code if re.match(CODE, code) else None
        problems: list[Problem] = []
        try:
            data["meetings"] = meetings_of(values.get("meetings", ""))
        except ValueError as exc:
            problems.append(problem(line, "meetings", str(exc)))
            data["meetings"] = []
        data["prerequisites"] = _LISTS.split(values["prerequisites"]) if "prerequisites" in values else []
        data["corequisites"] = _LISTS.split(values["corequisites"]) if "corequisites" in values else []
        data["restrictions"] = {
            kind: _LISTS.split(values[f"restrict_{kind}"]) for kind in RESTRICTION_KINDS if f"restrict_{kind}" in values
        }
        for kind in RESTRICTION_KINDS:
            data.pop(f"restrict_{kind}", None)
        term = data.pop("term", "") or ""
        assert isinstance(term, str)
        if not data.get("kind"):
            data.pop("kind", None)
        section = values.get("section", "")
        try:
            body = CourseIn.model_validate(data)
        except ValidationError as exc:
            problems += [problem(line, ".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors(include_url=False)]
            checked.append(CheckedCourse(line, None, problems, well_formed, term, section))
            continue
        values_in = None if problems else body.model_dump(exclude={"term", "linked_to"})
        checked.append(CheckedCourse(line, values_in, problems, well_formed, term, section))
    return parsed.errors, checked


async def run_course_import(job: Job, data: bytes, ctx: NodeContext) -> None:
    rows: list[CheckedCourse] = []
    async for chunk in job.csv_chunks(data, COLUMNS, REQUIRED, MAX_ROWS, CHUNK, check_courses):
        rows.extend(chunk)
    term_ids = await _terms(job, {c.term for c in rows})
    found: list[CheckedCourse] = []
    seen: dict[tuple[int, str, str], int] = {}  # (term, code, section) -> its line (every well-formed code)
    for checked in rows:
        job.errors.extend(checked.problems)
        term_id = term_ids.get(checked.term)
        if term_id is None:
            job.problem(checked.line, "term", f"no term {checked.term!r}")
            continue
        if checked.code is not None:
            key = (term_id, checked.code, checked.section)
            if key in seen:
                job.problem(checked.line, "code", f"repeats line {seen[key]}")
                continue
            seen[key] = checked.line
        if checked.values is not None:
            checked.values["term_id"] = term_id
            found.append(checked)
    await _check_taken(job, seen)
    codes = {code for _, code, _ in seen}
    await _check_prerequisites(job, found, codes)
    await _check_corequisites(job, found, codes)
    await _check_teachers(job, found, ctx)
    job.refuse_if_errors()
    await job.progress("writing", 0, len(found))
    try:
        await _write(job, [c for c in found if c.values])
    except IntegrityError:
        raise ImportRefused("a course code was taken meanwhile; nothing was created") from None


async def _terms(job: Job, refs: set[str]) -> dict[str, int]:
    """The id of each term the rows name (code or id; "": the current term); unknown ones left out."""
    found: dict[str, int] = {}
    async with job.runner.database.read() as conn:
        for ref in refs:
            row = await current_term(conn) if ref == "" else await find_term(conn, ref)
            if row is not None:
                found[ref] = row.id
    return found


async def _check_taken(job: Job, seen: dict[tuple[int, str, str], int]) -> None:
    """Codes (and sections) their term already has: a problem on the row of each."""
    for term_id in sorted({t for t, _, _ in seen}):
        codes = sorted({code for t, code, _ in seen if t == term_id})
        for start in range(0, len(codes), BATCH):
            batch = codes[start : start + BATCH]
            async with job.runner.database.read() as conn:
                query = select(courses.c.code, courses.c.section).where(
                    courses.c.term_id == term_id, courses.c.code.in_(batch)
                )
                taken = {(term_id, code, section) for code, section in (await conn.execute(query)).all()} & set(seen)
            for key in sorted(taken, key=lambda k: seen[k]):
                job.problem(seen[key], "code", f"a course with code {label(*key[1:])!r} exists in its term")
            await job.progress("checking", start + len(batch), len(codes))


async def _catalogue_codes(job: Job, found: list[CheckedCourse], field: str, seen: set[str]) -> set[str]:
    """The codes that rows name in `field` (a list of codes), not in the file, and that the
    catalogue has (read in batches)."""
    outside = sorted({p for c in found if c.values for p in c.values[field]} - seen)
    known: set[str] = set()
    for start in range(0, len(outside), BATCH):
        async with job.runner.database.read() as conn:
            batch = outside[start : start + BATCH]
            known.update((await conn.execute(select(courses.c.code).where(courses.c.code.in_(batch)))).scalars())
    return known


async def _check_prerequisites(job: Job, found: list[CheckedCourse], seen: set[str]) -> None:
    """Each prerequisite is another course: in the file or in the catalogue; none in a cycle."""
    known = await _catalogue_codes(job, found, "prerequisites", seen)
    graph = {c.values["code"]: list(c.values["prerequisites"]) for c in found if c.values}
    for c in found:
        assert c.values is not None
        needs = c.values["prerequisites"]
        missing = [p for p in needs if p not in seen and p not in known]
        if c.values["code"] in needs:
            job.problem(c.line, "prerequisites", f"{c.values['code']} cannot require itself")
        elif missing:
            job.problem(c.line, "prerequisites", f"no course has the code(s) {', '.join(missing)}")
        elif (cycle := requires_itself(c.values["code"], graph)) is not None:
            job.problem(c.line, "prerequisites", f"{' -> '.join(cycle)}: a cycle, no student could take them")


async def _check_corequisites(job: Job, found: list[CheckedCourse], seen: set[str]) -> None:
    """Each corequisite is another course: in the file or in the catalogue."""
    known = await _catalogue_codes(job, found, "corequisites", seen)
    for c in found:
        assert c.values is not None
        together = c.values["corequisites"]
        missing = [p for p in together if p not in seen and p not in known]
        if c.values["code"] in together:
            job.problem(c.line, "corequisites", f"{c.values['code']} cannot be its own corequisite")
        elif missing:
            job.problem(c.line, "corequisites", f"no course has the code(s) {', '.join(missing)}")


def requires_itself(code: str, graph: dict[str, list[str]]) -> list[str] | None:
    """A path of prerequisites from `code` back to itself (None if there is none)."""
    stack: list[tuple[str, list[str]]] = [(p, [code, p]) for p in graph.get(code, []) if p != code]
    visited: set[str] = set()
    while stack:
        current, path = stack.pop()
        if current == code:
            return path
        if current in visited:
            continue
        visited.add(current)
        stack.extend((p, [*path, p]) for p in graph.get(current, []))
    return None


async def _check_teachers(job: Job, found: list[CheckedCourse], ctx: NodeContext) -> None:
    """Each teacher_id names a teacher (by id or username): kept as the id, the name filled in."""
    refs = [c.values["teacher_id"] for c in found if c.values and c.values["teacher_id"] is not None]
    if not refs:
        return
    teachers = await named(ctx, refs, "teacher")
    for c in found:
        if c.values is None or c.values["teacher_id"] is None:
            continue
        teacher = teachers[c.values["teacher_id"]]
        if isinstance(teacher, str):
            job.problem(c.line, "teacher_id", teacher)
        else:
            c.values["teacher_id"] = teacher.id
            c.values["teacher_name"] = c.values["teacher_name"] or teacher.full_name


async def _refuse_broken_groups(
    job: Job, conn: AsyncConnection, checked: list[CheckedCourse], ids: dict[str, int]
) -> None:
    """New sections of an offering that had sections before: none may break a group students
    hold or wait for (`sections.groups_broken_by`, as a section created alone); each such row is
    a problem, and nothing is created."""
    offerings: dict[tuple[int, str], list[CheckedCourse]] = {}
    for c in checked:
        if c.values is not None and c.section:
            offerings.setdefault((c.values["term_id"], c.values["code"]), []).append(c)
    for rows in offerings.values():
        first = rows[0].values or {}
        made = {ids[label(first["code"], r.section)] for r in rows}
        mine = ids[label(first["code"], rows[0].section)]
        broken = await groups_broken_by(
            conn, mine, first["section"], first["kind"], first.get("linked_to"), created=made
        )
        if broken is not None:
            reason, students = broken
            why = f"{len(students)} student(s) hold or wait for sections that would no longer fit together ({reason})"
            job.problem(rows[0].line, "section", why)
    job.refuse_if_errors()


async def _write(job: Job, checked: list[CheckedCourse]) -> None:
    """Every course, its meetings and prerequisites: one fenced transaction, statements in batches."""
    ids: dict[str, int] = {}
    found = [c.values for c in checked if c.values is not None]
    async with job.writing() as conn:
        now = time.time()
        for start in range(0, len(found), BATCH):
            batch = found[start : start + BATCH]
            rows = [
                {k: v for k, v in c.items() if k not in DETAIL_FIELDS} | {"taken": 0, "updated_at": now} for c in batch
            ]
            await insert_rows(conn, courses, rows)
            codes = [c["code"] for c in batch]
            lookup = select(courses.c.term_id, courses.c.code, courses.c.section, courses.c.id).where(
                courses.c.code.in_(codes)
            )
            wanted = {(c["term_id"], c["code"], c["section"]) for c in batch}
            made_in = {
                (r.term_id, r.code, r.section): r.id
                for r in await conn.execute(lookup)
                if (r.term_id, r.code, r.section) in wanted
            }
            made = {label(c["code"], c["section"]): made_in[(c["term_id"], c["code"], c["section"])] for c in batch}
            ids.update(made)
            times = [
                {
                    "course_id": made_in[(c["term_id"], c["code"], c["section"])],
                    "weekday": m["weekday"],
                    "start_minute": minutes(m["start"]),
                    "end_minute": minutes(m["end"]),
                }
                for c in batch
                for m in c["meetings"]
            ]
            needs = [
                {"course_id": made_in[(c["term_id"], c["code"], c["section"])], "required_code": p}
                for c in batch
                for p in c["prerequisites"]
            ]
            if times:
                await conn.execute(meetings.insert(), times)
            if needs:
                await conn.execute(prerequisites.insert(), needs)
            together = [
                {"course_id": made[label(c["code"], c["section"])], "required_code": p}
                for c in batch
                for p in c["corequisites"]
            ]
            if together:
                await conn.execute(corequisites.insert(), together)
            allowed = [
                {"course_id": made[label(c["code"], c["section"])], "kind": kind, "value": value}
                for c in batch
                for kind, value in Restrictions.model_validate(c["restrictions"]).rows()
            ]
            if allowed:
                await conn.execute(course_restrictions.insert(), allowed)
            consent = [{"course_id": made[label(c["code"], c["section"])]} for c in batch if c["consent_required"]]
            if consent:
                await conn.execute(consent_courses.insert(), consent)
            await asyncio.sleep(0)
        await _refuse_broken_groups(job, conn, checked, ids)
        await record(
            conn, job.actor.username, "course-import", time.time(), reason=f"{len(ids)} course(s), job {job.id}"
        )
        job.result = {"created": len(ids), "ids": ids}
