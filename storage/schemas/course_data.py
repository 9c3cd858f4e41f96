"""The registrar ledger: courses, meeting times, enrollments, waitlists, rules' inputs.

The seat rule lives in the data itself: `courses.taken` counts enrollments and
`courses.permit_seats` those past the capacity through a capacity permit; the CHECK
`taken <= capacity + permit_seats` refuses any other seat past the capacity (and
`services/course_data/seats.py` guards every change by the same rule). (course, student)
is unique in both enrollments and waitlist entries.

Courses belong to a term (`terms`, migrations 104 and 105): a code is unique within its
term, and the registration windows are a term's. Migration 100 makes the tables as they
were before terms (`_before_terms`), so every database, new or old, reaches today's schema
through the same steps; a new one gets the default term (id `DEFAULT_TERM_ID`) from 104.
"""

from __future__ import annotations

import time

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    inspect,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.dialects import MYSQL_TABLE, is_mysql
from storage.migrations import Migration, create_tables

metadata = MetaData()
# Seats taken without a permit never exceed the capacity (`services/course_data/seats.py`).
SEAT_RULE = "taken <= capacity + permit_seats AND permit_seats >= 0 AND permit_seats <= taken"
# The term migration 104 makes (today's courses and windows move into it); rows written
# without a term (old clients, the tests' fixtures) belong to it.
DEFAULT_TERM_ID = 1
DEFAULT_TERM_CODE = "default"

terms = Table(
    "terms",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(32), nullable=False, unique=True),  # e.g. "2026-fall"
    Column("name", String(200), nullable=False, default=""),
    # Null only in the default term until an admin sets them: the settings' term_start/term_end stand in.
    Column("starts_on", Date),
    Column("ends_on", Date),
    Column("timezone", String(64), nullable=False, default="UTC"),  # an IANA name (zoneinfo)
    Column("drop_deadline", Double),  # Unix time; null: the windows' drop deadlines alone
    Column("is_current", Boolean, nullable=False, default=False),  # exactly one term is current
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    CheckConstraint("starts_on IS NULL OR ends_on IS NULL OR starts_on <= ends_on", name="ck_terms_dates"),
    **MYSQL_TABLE,
)

courses = Table(
    "courses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(  # (migration 104; a row that names no term is the default term's, as ALTER TABLE's DEFAULT makes it)
        "term_id",
        Integer,
        ForeignKey("terms.id"),
        nullable=False,
        default=DEFAULT_TERM_ID,
        server_default=str(DEFAULT_TERM_ID),
        index=True,
    ),
    Column("code", String(32), nullable=False),
    Column("title", String(200), nullable=False),
    Column("department", String(100), nullable=False, default=""),
    Column("teacher_id", Integer, index=True),
    Column("teacher_name", String(200), nullable=False, default=""),
    Column("credits", Integer, nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("taken", Integer, nullable=False, default=0),
    Column("permit_seats", Integer, nullable=False, default=0, server_default="0"),  # (migration 102)
    Column("location", String(100), nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("updated_at", Double, nullable=False),
    # Sections (migration 140): a row is one section of its offering, the rows of one
    # (term_id, code); `section` names it ("" for a course with a single section), `kind`
    # says what it is (an offering with several kinds is taken one section of each kind,
    # together), and `linked_to` is the section it may only be taken with (a lab of one
    # lecture section), or null.
    Column("section", String(16), nullable=False, default="", server_default=""),
    Column("kind", String(16), nullable=False, default="lecture", server_default="lecture"),
    Column("linked_to", Integer),
    CheckConstraint("capacity >= 0", name="ck_courses_capacity"),
    CheckConstraint("taken >= 0", name="ck_courses_taken"),
    CheckConstraint(SEAT_RULE, name="ck_courses_seats"),
    CheckConstraint("credits >= 0", name="ck_courses_credits"),
    UniqueConstraint("term_id", "code", "section", name="uq_courses_term_code_section"),
    **MYSQL_TABLE,
)

meetings = Table(
    "meetings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("course_id", Integer, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("weekday", Integer, nullable=False),  # 0 Monday .. 6 Sunday
    Column("start_minute", Integer, nullable=False),  # minutes after midnight
    Column("end_minute", Integer, nullable=False),
    CheckConstraint("weekday BETWEEN 0 AND 6", name="ck_meetings_weekday"),
    CheckConstraint("start_minute >= 0 AND end_minute <= 1440 AND start_minute < end_minute", name="ck_meetings_time"),
    **MYSQL_TABLE,
)

prerequisites = Table(
    "prerequisites",
    metadata,
    Column("course_id", Integer, ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True),
    Column("required_code", String(32), primary_key=True),
    **MYSQL_TABLE,
)

# Codes to take in the same term as the course: enrolled in, or completed (migration 110).
corequisites = Table(
    "corequisites",
    metadata,
    Column("course_id", Integer, ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True),
    Column("required_code", String(32), primary_key=True),
    **MYSQL_TABLE,
)

# Who may take a course: per kind (program, year, cohort), the values allowed; a kind with no
# row allows anyone (migration 110).
course_restrictions = Table(
    "course_restrictions",
    metadata,
    Column("course_id", Integer, ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("value", String(32), primary_key=True),
    CheckConstraint("kind IN ('program', 'year', 'cohort')", name="ck_course_restrictions_kind"),
    **MYSQL_TABLE,
)

# Instructor-consent courses: a student needs a `consent` permit from the teacher (migration 110).
consent_courses = Table(
    "consent_courses",
    metadata,
    Column("course_id", Integer, ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True),
    **MYSQL_TABLE,
)

enrollments = Table(
    "enrollments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("course_id", Integer, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
    Column("student_id", Integer, nullable=False, index=True),
    Column("via_permit", Boolean, nullable=False, default=False),
    Column("created_at", Double, nullable=False),
    UniqueConstraint("course_id", "student_id", name="uq_enrollments_course_student"),
    **MYSQL_TABLE,
)

waitlist = Table(
    "waitlist",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # order of joining: first come, first served
    Column("course_id", Integer, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
    Column("student_id", Integer, nullable=False, index=True),
    Column("created_at", Double, nullable=False),
    # A section group waiting (migration 141): the group's other section ids, comma-separated
    # ("" for a single course). The student waits on each full section of the group and is
    # enrolled in the whole group at once when it can be taken (`groups.promote_group`).
    Column("group_sections", String(200), nullable=False, default="", server_default=""),
    UniqueConstraint("course_id", "student_id", name="uq_waitlist_course_student"),
    Index("ix_waitlist_course_order", "course_id", "id"),
    **MYSQL_TABLE,
)

completed_courses = Table(
    "completed_courses",
    metadata,
    Column("student_id", Integer, primary_key=True),
    Column("course_code", String(32), primary_key=True),
    **MYSQL_TABLE,
)

windows = Table(
    "registration_windows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(  # (migration 105)
        "term_id",
        Integer,
        ForeignKey("terms.id"),
        nullable=False,
        default=DEFAULT_TERM_ID,
        server_default=str(DEFAULT_TERM_ID),
    ),
    Column("cohort", Integer),  # null: every cohort
    # A narrower audience (migration 110): one student's time ticket, or a priority group's
    # window; at most one of student_id, priority_group, cohort is set (the most specific wins).
    Column("student_id", Integer),
    Column("priority_group", String(32)),
    Column("opens_at", Double, nullable=False),
    Column("closes_at", Double, nullable=False),
    Column("drop_deadline", Double, nullable=False),
    CheckConstraint("opens_at < closes_at", name="ck_windows_order"),
    **MYSQL_TABLE,
)

holds = Table(
    "holds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("student_id", Integer, nullable=False, index=True),
    Column("reason", String(500), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", Double, nullable=False),
    **MYSQL_TABLE,
)

permits = Table(
    "permits",
    metadata,
    Column("course_id", Integer, ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True),
    Column("student_id", Integer, primary_key=True),
    Column("capacity", Boolean, nullable=False, default=False),  # may enroll past capacity
    Column("prerequisites", Boolean, nullable=False, default=False),  # may skip prerequisites
    # The teacher consents (an instructor-consent course; migration 110).
    Column("consent", Boolean, nullable=False, default=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", Double, nullable=False),
    **MYSQL_TABLE,
)

ledger_audit = Table(
    "ledger_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Double, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("student_id", Integer),
    Column("course_id", Integer),
    Column("outcome", String(32), nullable=False, default=""),
    Column("reason", String(500), nullable=False, default=""),
    # The rules a registrar's desk action named to skip, comma-separated ("" for every other record).
    Column("overrides", String(200), nullable=False, default="", server_default=""),
    Index("ix_ledger_audit_student", "student_id"),
    **MYSQL_TABLE,
)

# One row per queued request the ledger decided (issue 6): applying a request again returns
# this outcome instead of deciding twice; `seq` is the order of decision.
queue_decisions = Table(
    "queue_decisions",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(40), nullable=False, unique=True),
    Column("student_id", Integer, nullable=False),
    Column("action", String(8), nullable=False),
    Column("course_id", Integer, nullable=False),
    Column("drop_course_id", Integer),
    Column("outcome", String(16), nullable=False),
    Column("type", String(40), nullable=False, default=""),
    Column("reason", String(500), nullable=False, default=""),
    Column("decided_at", Double, nullable=False),
    Index("ix_queue_decisions_course", "course_id", "seq"),
    **MYSQL_TABLE,
)

# A student's saved plan (issue 16): its items as JSON (`services.common.plan_contract`),
# replaced whole on each save; the course ids are checked against `courses` then, and again
# (by the ledger's rules) when it is validated or submitted.
plans = Table(
    "plans",
    metadata,
    Column("student_id", Integer, primary_key=True, autoincrement=False),
    Column("items", Text, nullable=False),
    Column("updated_at", Double, nullable=False),
    **MYSQL_TABLE,
)


_legacy = MetaData()


_LATER_COLUMNS = {"term_id", "section", "kind", "linked_to"}  # (migrations 104, 105 and 140)


def _before_terms(table: Table, *constraints: UniqueConstraint) -> Table:
    """`table` as migration 100 made it: without `term_id` (104, 105) nor the sections' columns
    (140), and with `constraints` in place of today's unique ones (a course code was unique in
    the whole catalogue)."""
    kept = [c._copy() for c in table.columns if c.name not in _LATER_COLUMNS]
    checks = [CheckConstraint(ck.sqltext, name=ck.name) for ck in table.constraints if isinstance(ck, CheckConstraint)]
    return Table(table.name, _legacy, *kept, *checks, *constraints, **MYSQL_TABLE)


courses_before_terms = _before_terms(courses, UniqueConstraint("code"))
windows_before_terms = _before_terms(windows)


async def _rebuild_sqlite(conn: AsyncConnection, table: Table, shape: Table, filled: dict[str, str]) -> None:
    """Rebuild `table` on SQLite as `shape` (SQLite's 12-step way; migrations run with foreign
    key actions off, so dropping the old table cascades nowhere): the columns both have are
    copied, and each of `filled` (column -> SQL expression) is computed from the old row."""
    rebuilt_meta = MetaData()
    terms.to_metadata(rebuilt_meta)
    rebuilt = shape.to_metadata(rebuilt_meta, name=f"{table.name}_rebuilt")
    found = await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns(table.name)})
    for reflected in await conn.run_sync(lambda c: inspect(c).get_indexes(table.name)):
        await conn.exec_driver_sql(f'DROP INDEX IF EXISTS "{reflected["name"]}"')
    await conn.run_sync(rebuilt.create)
    copied = [c.name for c in shape.columns if c.name in found and c.name not in filled]
    into = ", ".join(f'"{name}"' for name in [*copied, *filled])
    values = ", ".join([*(f'"{name}"' for name in copied), *filled.values()])
    await conn.exec_driver_sql(f'INSERT INTO "{rebuilt.name}" ({into}) SELECT {values} FROM "{table.name}"')
    await conn.exec_driver_sql(f'DROP TABLE "{table.name}"')
    await conn.exec_driver_sql(f'ALTER TABLE "{rebuilt.name}" RENAME TO "{table.name}"')
    for index in rebuilt.indexes:  # (named after the table they were made for)
        await conn.exec_driver_sql(f'DROP INDEX IF EXISTS "{index.name}"')
    for index in shape.indexes:
        await conn.run_sync(index.create)


async def _seat_rule(conn: AsyncConnection) -> None:
    """Count the permit seats of existing courses and add the seat rule's CHECK (a course
    created since already has both). SQLite cannot add a constraint to a table: the table
    is rebuilt (as it was before terms: this step comes before migration 104)."""
    found = await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("courses")})
    checks = await conn.run_sync(lambda c: {ck["name"] for ck in inspect(c).get_check_constraints("courses")})
    if "permit_seats" in found and "ck_courses_seats" in checks:
        return
    counted = "(SELECT count(*) FROM enrollments e WHERE e.course_id = courses.id AND e.via_permit = {true})"
    if conn.dialect.name == "sqlite":
        shape = courses if "term_id" in found else courses_before_terms
        await _rebuild_sqlite(conn, courses, shape, {"permit_seats": counted.format(true=1)})
        return
    if "permit_seats" not in found:
        await conn.exec_driver_sql("ALTER TABLE courses ADD COLUMN permit_seats INTEGER NOT NULL DEFAULT 0")
    await conn.exec_driver_sql(f"UPDATE courses SET permit_seats = {counted.format(true='TRUE')}")
    await conn.exec_driver_sql(f"ALTER TABLE courses ADD CONSTRAINT ck_courses_seats CHECK ({SEAT_RULE})")


async def _audit_overrides(conn: AsyncConnection) -> None:
    """Add `ledger_audit.overrides` to a database made before it (migration 100 makes it now)."""
    names = await conn.run_sync(lambda sync: [c["name"] for c in inspect(sync).get_columns("ledger_audit")])
    if "overrides" not in names:
        await conn.exec_driver_sql("ALTER TABLE ledger_audit ADD COLUMN overrides VARCHAR(200) NOT NULL DEFAULT ''")


async def _columns(conn: AsyncConnection, table: str) -> set[str]:
    return set(await conn.run_sync(lambda c: [col["name"] for col in inspect(c).get_columns(table)]))


async def _terms(conn: AsyncConnection) -> None:
    """Terms (104): the `terms` table, one default term (current) holding every course there
    is, and course codes unique per term instead of in the whole catalogue.

    The default term has no dates: until an admin sets them, the settings' `course.term_start`
    and `course.term_end` stand in (the settings live in the replicated state, not here)."""
    have = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    if "terms" not in have:
        await conn.run_sync(terms.create, checkfirst=is_mysql(conn.dialect))
    if (await conn.execute(select(func.count()).select_from(terms))).scalar_one() == 0:
        now = time.time()
        await conn.execute(
            terms.insert().values(
                id=DEFAULT_TERM_ID,
                code=DEFAULT_TERM_CODE,
                name="Default term",
                timezone="UTC",
                is_current=True,
                created_at=now,
                updated_at=now,
            )
        )
        if conn.dialect.name == "postgresql":  # (an explicit id leaves the sequence behind)
            await conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('terms', 'id'), (SELECT max(id) FROM terms))"
            )
    found = await _columns(conn, "courses")
    if conn.dialect.name == "sqlite":  # (one transaction: either all of it happened or none)
        if "term_id" not in found:
            await _rebuild_sqlite(conn, courses, courses, {"term_id": str(DEFAULT_TERM_ID)})
        return
    # PostgreSQL, MySQL/MariaDB: each step only if still missing (MySQL commits each DDL
    # statement by itself, so a start cut short finishes the remaining steps the next time).
    if "term_id" not in found:
        await conn.exec_driver_sql(f"ALTER TABLE courses ADD COLUMN term_id INTEGER NOT NULL DEFAULT {DEFAULT_TERM_ID}")
    await _term_key(conn, "courses", "fk_courses_term")
    indexes = await conn.run_sync(lambda c: {i["name"] for i in inspect(c).get_indexes("courses")})
    if "ix_courses_term_id" not in indexes:
        await conn.exec_driver_sql("CREATE INDEX ix_courses_term_id ON courses (term_id)")
    uniques = await conn.run_sync(lambda c: inspect(c).get_unique_constraints("courses"))
    for unique in uniques:
        if unique["column_names"] == ["code"]:
            drop = "DROP INDEX" if is_mysql(conn.dialect) else "DROP CONSTRAINT"
            quoted = conn.dialect.identifier_preparer.quote(str(unique["name"]))
            await conn.exec_driver_sql(f"ALTER TABLE courses {drop} {quoted}")
    if not any(u["column_names"] == ["term_id", "code"] for u in uniques):
        await conn.exec_driver_sql("ALTER TABLE courses ADD CONSTRAINT uq_courses_term_code UNIQUE (term_id, code)")


async def _term_key(conn: AsyncConnection, table: str, name: str) -> None:
    """The foreign key `table.term_id -> terms.id`, unless the table has it."""
    keys = await conn.run_sync(lambda c: inspect(c).get_foreign_keys(table))
    if not any(k["constrained_columns"] == ["term_id"] for k in keys):
        await conn.exec_driver_sql(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY (term_id) REFERENCES terms (id)"
        )


async def _window_terms(conn: AsyncConnection) -> None:
    """Windows per term (105): each existing window is the default term's."""
    found = await _columns(conn, "registration_windows")
    add = f"ALTER TABLE registration_windows ADD COLUMN term_id INTEGER NOT NULL DEFAULT {DEFAULT_TERM_ID}"
    if conn.dialect.name == "sqlite":  # (allowed with a REFERENCES clause: foreign key actions are off)
        if "term_id" not in found:
            await conn.exec_driver_sql(f"{add} REFERENCES terms (id)")
        return
    if "term_id" not in found:
        await conn.exec_driver_sql(add)
    await _term_key(conn, "registration_windows", "fk_windows_term")


async def _eligibility(conn: AsyncConnection) -> None:
    """Time tickets and priority groups on windows, consent on permits, and the tables of
    corequisites, restrictions and consent courses (a database made since has the columns)."""
    false = "0" if conn.dialect.name == "sqlite" else "FALSE"
    for table, column, ddl in (
        ("registration_windows", "student_id", "INTEGER"),
        ("registration_windows", "priority_group", "VARCHAR(32)"),
        ("permits", "consent", f"BOOLEAN NOT NULL DEFAULT {false}"),
    ):
        if column not in await _columns(conn, table):
            await conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}")
    await create_tables(corequisites, course_restrictions, consent_courses)(conn)


async def _sections(conn: AsyncConnection) -> None:
    """Sections (140): each course becomes the single section ("", a lecture) of its offering,
    and codes are unique per term and section instead of per term. Each step only if still
    missing (MySQL commits each DDL statement by itself: a start cut short finishes the rest)."""
    found = await _columns(conn, "courses")
    if conn.dialect.name == "sqlite":  # (a rebuild: SQLite cannot change a table's constraints)
        if not {"section", "kind", "linked_to"} <= found:
            await _rebuild_sqlite(conn, courses, courses, {"section": "''", "kind": "'lecture'", "linked_to": "NULL"})
        return
    for column, ddl in (
        ("section", "VARCHAR(16) NOT NULL DEFAULT ''"),
        ("kind", "VARCHAR(16) NOT NULL DEFAULT 'lecture'"),
        ("linked_to", "INTEGER"),
    ):
        if column not in found:
            await conn.exec_driver_sql(f"ALTER TABLE courses ADD COLUMN {column} {ddl}")
    uniques = await conn.run_sync(lambda c: inspect(c).get_unique_constraints("courses"))
    if not any(u["column_names"] == ["term_id", "code", "section"] for u in uniques):
        await conn.exec_driver_sql(
            "ALTER TABLE courses ADD CONSTRAINT uq_courses_term_code_section UNIQUE (term_id, code, section)"
        )
    for unique in uniques:
        if unique["column_names"] == ["term_id", "code"]:
            drop = "DROP INDEX" if is_mysql(conn.dialect) else "DROP CONSTRAINT"
            quoted = conn.dialect.identifier_preparer.quote(str(unique["name"]))
            await conn.exec_driver_sql(f"ALTER TABLE courses {drop} {quoted}")


async def _waitlist_groups(conn: AsyncConnection) -> None:
    """Section groups on waitlists (141): `waitlist.group_sections`, "" (a single course) on
    every row there is (a database made since has the column)."""
    if "group_sections" not in await _columns(conn, "waitlist"):
        await conn.exec_driver_sql("ALTER TABLE waitlist ADD COLUMN group_sections VARCHAR(200) NOT NULL DEFAULT ''")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        100,
        "courses, meetings, enrollments, waitlists, windows, holds, permits",
        create_tables(
            courses_before_terms,
            meetings,
            prerequisites,
            enrollments,
            waitlist,
            completed_courses,
            windows_before_terms,
            holds,
            permits,
            ledger_audit,
        ),
    ),
    Migration(101, "decisions of queued requests", create_tables(queue_decisions)),
    Migration(102, "the seat rule as a CHECK constraint (permit seats counted)", _seat_rule),
    Migration(103, "the overrides a desk action named, in the audit", _audit_overrides),
    Migration(104, "terms: a default term holding every course; codes unique per term", _terms),
    Migration(105, "registration windows per term", _window_terms),
    Migration(110, "time tickets, priority groups, corequisites, restrictions, instructor consent", _eligibility),
    Migration(120, "students' saved plans", create_tables(plans)),
    Migration(140, "sections: a course is a section of its offering; codes unique per term and section", _sections),
    Migration(141, "section groups on waitlists: the group's other sections kept with the request", _waitlist_groups),
)
