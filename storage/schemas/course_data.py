"""The registrar ledger: courses, meeting times, enrollments, waitlists, rules' inputs.

The seat rule lives in the data itself: `courses.taken` counts enrollments and
`courses.permit_seats` those past the capacity through a capacity permit; the CHECK
`taken <= capacity + permit_seats` refuses any other seat past the capacity (and
`services/course_data/seats.py` guards every change by the same rule). (course, student)
is unique in both enrollments and waitlist entries.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.dialects import MYSQL_TABLE
from storage.migrations import Migration, create_tables

metadata = MetaData()
# Seats taken without a permit never exceed the capacity (`services/course_data/seats.py`).
SEAT_RULE = "taken <= capacity + permit_seats AND permit_seats >= 0 AND permit_seats <= taken"

courses = Table(
    "courses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(32), nullable=False, unique=True),
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
    CheckConstraint("capacity >= 0", name="ck_courses_capacity"),
    CheckConstraint("taken >= 0", name="ck_courses_taken"),
    CheckConstraint(SEAT_RULE, name="ck_courses_seats"),
    CheckConstraint("credits >= 0", name="ck_courses_credits"),
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
    Column("cohort", Integer),  # null: every cohort
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


async def _seat_rule(conn: AsyncConnection) -> None:
    """Count the permit seats of existing courses and add the seat rule's CHECK (a course
    created since already has both). SQLite cannot add a constraint to a table: the table
    is rebuilt (SQLite's 12-step way; migrations run with foreign key actions off)."""
    found = await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("courses")})
    checks = await conn.run_sync(lambda c: {ck["name"] for ck in inspect(c).get_check_constraints("courses")})
    if "permit_seats" in found and "ck_courses_seats" in checks:
        return
    counted = "(SELECT count(*) FROM enrollments e WHERE e.course_id = courses.id AND e.via_permit = {true})"
    if conn.dialect.name == "sqlite":
        rebuilt = courses.to_metadata(MetaData(), name="courses_rebuilt")
        for index in courses.indexes:
            await conn.exec_driver_sql(f'DROP INDEX IF EXISTS "{index.name}"')
        await conn.run_sync(rebuilt.create)
        old = ", ".join(f'"{c.name}"' for c in courses.columns if c.name != "permit_seats")
        copied = (
            f"INSERT INTO courses_rebuilt ({old}, permit_seats) SELECT {old}, {counted.format(true=1)} FROM courses"
        )
        await conn.exec_driver_sql(copied)
        await conn.exec_driver_sql("DROP TABLE courses")
        await conn.exec_driver_sql("ALTER TABLE courses_rebuilt RENAME TO courses")
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


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        100,
        "courses, meetings, enrollments, waitlists, windows, holds, permits",
        create_tables(
            courses,
            meetings,
            prerequisites,
            enrollments,
            waitlist,
            completed_courses,
            windows,
            holds,
            permits,
            ledger_audit,
        ),
    ),
    Migration(101, "decisions of queued requests", create_tables(queue_decisions)),
    Migration(102, "the seat rule as a CHECK constraint (permit seats counted)", _seat_rule),
    Migration(103, "the overrides a desk action named, in the audit", _audit_overrides),
    Migration(120, "students' saved plans", create_tables(plans)),
)
