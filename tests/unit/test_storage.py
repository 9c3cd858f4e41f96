"""The storage layer against SQLite and real PostgreSQL and MariaDB servers."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select, text, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import Database
from storage.dialects import Inserts, Returning, among, among_written, insert_new, insert_rows, select_many
from storage.errors import LeaseEndedError, StaleEpochError, StorageUnavailableError
from storage.locks import lock_keys, mysql_lock_name
from storage.migrations import Migration, applied_versions, create_tables, migrate
from storage.schemas import MIGRATIONS
from storage.schemas.core import MIGRATIONS as CORE
from storage.schemas.core import outbox
from storage.schemas.course_data import completed_courses, ledger_audit, queue_decisions
from storage.schemas.course_data import courses as course_table
from storage.schemas.course_data import enrollments as enrollment_table
from storage.schemas.login import users
from storage.timeouts import DatabaseTimeouts
from tests.databases import KINDS, new_database

meta = MetaData()
courses = Table(
    "t_courses",
    meta,
    Column("id", Integer, primary_key=True),
    Column("capacity", Integer, nullable=False),
    Column("taken", Integer, nullable=False),
)
enrollments = Table(
    "t_enrollments",
    meta,
    Column("course_id", Integer, nullable=False),
    Column("student", String(32), nullable=False, unique=True),
)
TEST_MIGRATIONS = (*CORE, Migration(100, "test tables", create_tables(courses, enrollments)))


@pytest.fixture(params=KINDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(await new_database(request, request.param, tmp_path), pool_size=20)
    try:
        yield database
    finally:
        await database.close()


async def test_migrations_apply_once_and_are_recorded(db: Database) -> None:
    assert await migrate(db, TEST_MIGRATIONS) == [1, 2, 3, 10, 100]
    assert await migrate(db, TEST_MIGRATIONS) == []
    assert await applied_versions(db) == [1, 2, 3, 10, 100]


async def test_concurrent_starts_apply_each_migration_once(db: Database) -> None:
    other = Database(str(db.url.render_as_string(hide_password=False)))
    try:
        results = await asyncio.gather(migrate(db, TEST_MIGRATIONS), migrate(other, TEST_MIGRATIONS))
    finally:
        await other.close()
    assert sorted(results) == [[], [1, 2, 3, 10, 100]]


@pytest.mark.parametrize("kind", KINDS)
async def test_every_service_schema_migrates(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> None:
    """Each service's whole schema, on a database of its own (versions are a service's own:
    services sharing one database keep apart by schema, tested below)."""
    for service, migrations in MIGRATIONS.items():
        db = Database(await new_database(request, kind, tmp_path))
        try:
            assert await migrate(db, migrations) == [m.version for m in migrations], service
            assert await applied_versions(db) == [m.version for m in migrations], service
        finally:
            await db.close()


async def test_migration_versions_must_ascend(db: Database) -> None:
    with pytest.raises(ValueError, match="ascending"):
        await migrate(db, (TEST_MIGRATIONS[1], TEST_MIGRATIONS[0]))


async def test_fencing_refuses_an_older_epoch_and_rolls_its_write_back(db: Database) -> None:
    await migrate(db, TEST_MIGRATIONS)
    async with db.write(fence=("course_data", 5)) as conn:
        await conn.execute(courses.insert().values(id=1, capacity=10, taken=0))
    async with db.write(fence=("course_data", 5)) as conn:  # the same master again: fine
        await conn.execute(update(courses).values(taken=1))
    async with db.write(fence=("course_data", 7)) as conn:  # a newer master
        await conn.execute(update(courses).values(taken=2))
    with pytest.raises(StaleEpochError):
        async with db.write(fence=("course_data", 6)) as conn:  # the deposed one
            await conn.execute(update(courses).values(taken=99))
    async with db.write(fence=("other_scope", 1)) as conn:  # scopes are independent
        pass
    async with db.read() as conn:
        assert (await conn.execute(select(courses.c.taken))).scalar_one() == 2


async def test_guarded_seat_take_never_oversells_under_concurrency(db: Database) -> None:
    """80 concurrent enrollments into 10 seats: exactly 10 succeed, none fails with an error."""
    await migrate(db, TEST_MIGRATIONS)
    async with db.write() as conn:
        await conn.execute(courses.insert().values(id=1, capacity=10, taken=0))

    async def enroll(student: str) -> bool:
        async with db.write() as conn:
            took = await conn.execute(
                update(courses)
                .where(courses.c.id == 1, courses.c.taken < courses.c.capacity)
                .values(taken=courses.c.taken + 1)
            )
            if took.rowcount != 1:
                return False
            await conn.execute(enrollments.insert().values(course_id=1, student=student))
            return True

    results = await asyncio.gather(*(enroll(f"s{i}") for i in range(80)))
    assert sum(results) == 10
    async with db.read() as conn:
        assert (await conn.execute(select(courses.c.taken))).scalar_one() == 10
        assert len((await conn.execute(select(enrollments))).all()) == 10


async def test_text_and_times_keep_their_value_on_every_database(db: Database) -> None:
    """utf8mb4 text compared byte by byte, and Unix times to the microsecond (MySQL's FLOAT would not)."""
    await migrate(db, MIGRATIONS["login"])
    at = 1764582000.123456
    async with db.write() as conn:
        for name in ("admin", "Admin"):  # a case-insensitive collation would call these one name
            await conn.execute(
                users.insert().values(
                    username=name,
                    role="admin",
                    password_hash="x",
                    full_name="Zoë 😀 Łukasz",
                    created_at=at,
                    updated_at=at,
                    password_changed_at=at,
                )
            )
    async with db.read() as conn:
        rows = (await conn.execute(select(users.c.username, users.c.full_name, users.c.created_at))).all()
        found = (await conn.execute(select(users.c.username).where(users.c.username == "ADMIN"))).all()
    assert sorted(rows) == [("Admin", "Zoë 😀 Łukasz", at), ("admin", "Zoë 😀 Łukasz", at)]
    assert found == []


async def test_fencing_reads_the_epoch_on_a_fresh_connection(db: Database) -> None:
    """The refusal does not depend on what the same connection did before (MySQL's last insert id)."""
    await migrate(db, TEST_MIGRATIONS)
    async with db.write(fence=("s", 9)):
        pass
    other = Database(str(db.url.render_as_string(hide_password=False)))
    try:
        with pytest.raises(StaleEpochError):
            async with other.write(fence=("s", 8)):
                pass
        async with other.write(fence=("fresh", 1)):  # a new scope after a refusal: accepted
            pass
        async with other.write(fence=("s", 9)):
            pass
    finally:
        await other.close()


async def test_key_locks_are_held_until_the_transaction_ends(db: Database) -> None:
    """Taken in one statement, held while the write runs, gone after its commit or its rollback."""
    await migrate(db, TEST_MIGRATIONS)
    observer = Database(str(db.url.render_as_string(hide_password=False)))

    async def held() -> int:
        async with observer.read() as conn:
            if db.is_sqlite:
                return 0
            if conn.dialect.name == "postgresql":
                query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 7"
                return int((await conn.execute(text(query))).scalar_one())
            names = [mysql_lock_name(db.url.database or "", 7, k) for k in (1, 2, 3)]
            used = (await conn.execute(select(*(func.is_used_lock(n) for n in names)))).one()
            return sum(u is not None for u in used)

    try:
        async with db.write() as conn:
            await lock_keys(conn, 7, [3, 1, 2, 1])
            assert await held() == (0 if db.is_sqlite else 3)
        assert await held() == 0

        async def lock_then_fail() -> None:
            async with db.write() as conn:
                await lock_keys(conn, 7, [2])
                raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError):
            await lock_then_fail()
        assert await held() == 0
    finally:
        await observer.close()


async def test_insert_new_keeps_the_rows_already_there(db: Database) -> None:
    await migrate(db, MIGRATIONS["course_data"])
    async with db.write() as conn:
        await insert_new(conn, completed_courses, [{"student_id": 1, "course_code": "A"}])
        await insert_new(conn, completed_courses, [{"student_id": 1, "course_code": c} for c in ("A", "B")])
    async with db.read() as conn:
        assert sorted((await conn.execute(select(completed_courses))).all()) == [(1, "A"), (1, "B")]


async def mysql_counts(conn: AsyncConnection) -> dict[str, int]:
    """The session's statement counters (MySQL/MariaDB), read as text (never prepared)."""
    shown = await conn.exec_driver_sql("SHOW SESSION STATUS LIKE 'Com_%'", execution_options={"no_parameters": True})
    return {name: int(value) for name, value in shown.all() if value.isdigit()}


async def test_mysql_sessions_prepare_a_repeated_statement_once(db: Database) -> None:
    """A statement with parameters is prepared on the server once per connection and then only
    executed (no text parsed again), its answers of the same types as by text."""
    if not db.is_mysql:
        pytest.skip("MySQL/MariaDB session settings")
    async with db.read() as conn:
        before = await mysql_counts(conn)
        answers = [(await conn.execute(text("SELECT :n + 1"), {"n": n})).scalar_one() for n in range(3)]
        after = await mysql_counts(conn)
    assert answers == [1, 2, 3]
    assert {type(a) for a in answers} == {int}
    assert after["Com_stmt_prepare"] - before["Com_stmt_prepare"] == 1
    assert after["Com_stmt_execute"] - before["Com_stmt_execute"] == 3


async def test_mysql_savepoints_run_as_text_never_prepared(db: Database) -> None:
    """SQLAlchemy numbers a connection's savepoints: each would be a new statement to prepare
    for one use, pushing out the statements worth keeping. They run as text."""
    if not db.is_mysql:
        pytest.skip("MySQL/MariaDB session settings")
    async with db.write() as conn:
        before = await mysql_counts(conn)
        for n in range(10):
            savepoint = await conn.begin_nested()
            await (savepoint.rollback() if n % 2 else savepoint.commit())
        after = await mysql_counts(conn)
    changed = {k: after[k] - before[k] for k in after if after[k] != before[k] and k != "Com_show_status"}
    assert changed == {"Com_savepoint": 10, "Com_release_savepoint": 5, "Com_rollback_to_savepoint": 5}


async def test_mysql_sessions_are_strict_and_read_committed(db: Database) -> None:
    """A too-long value is an error (never cut short), and each statement sees the newest commits."""
    if not db.is_mysql:
        pytest.skip("MySQL/MariaDB session settings")
    async with db.read() as conn:
        mode, isolation = (await conn.execute(text("SELECT @@SESSION.sql_mode, @@SESSION.tx_isolation"))).one()
    assert "STRICT_ALL_TABLES" in mode.split(",")
    assert isolation == "READ-COMMITTED"
    await migrate(db, TEST_MIGRATIONS)
    with pytest.raises(DataError):
        async with db.write() as conn:
            await conn.execute(enrollments.insert().values(course_id=1, student="x" * 33))


async def test_unique_constraint_backs_the_rules(db: Database) -> None:
    await migrate(db, TEST_MIGRATIONS)
    async with db.write() as conn:
        await conn.execute(enrollments.insert().values(course_id=1, student="s1"))
    with pytest.raises(IntegrityError):
        async with db.write() as conn:
            await conn.execute(enrollments.insert().values(course_id=2, student="s1"))


async def test_sqlite_read_modify_write_takes_the_lock_up_front(tmp_path: Path) -> None:
    """Check-then-insert in parallel: with BEGIN IMMEDIATE none fails with "database is locked"."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'rmw.db'}", pool_size=20)
    try:
        await migrate(db, TEST_MIGRATIONS)

        async def check_then_insert(i: int) -> None:
            async with db.write() as conn:
                count = (await conn.execute(select(enrollments.c.student))).all()
                await asyncio.sleep(0)
                await conn.execute(enrollments.insert().values(course_id=len(count), student=f"s{i}"))

        await asyncio.gather(*(check_then_insert(i) for i in range(80)))
        async with db.read() as conn:
            course_ids = sorted((await conn.execute(select(enrollments.c.course_id))).scalars())
        assert course_ids == list(range(80))  # each saw every earlier insert: fully serialized
        async with db.read() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
    finally:
        await db.close()


async def test_services_sharing_one_postgresql_database_migrate_each_in_its_own_schema(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Before schemas, login's migration 100 was skipped because course_data's 100 was recorded."""
    url = await new_database(request, "postgres", tmp_path)
    databases = {service: Database(url, schema=service) for service in MIGRATIONS}
    try:
        applied = await asyncio.gather(*(migrate(databases[s], ms) for s, ms in MIGRATIONS.items()))
        for (service, migrations), versions in zip(MIGRATIONS.items(), applied, strict=True):
            assert versions == [m.version for m in migrations], service
            assert await applied_versions(databases[service]) == versions
        async with databases["login"].read() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM login.users"))).scalar_one() == 0
            tables = await conn.execute(
                text("SELECT table_schema FROM information_schema.tables WHERE table_name = 'outbox'")
            )
            assert sorted(tables.scalars()) == sorted(MIGRATIONS)  # each service its own outbox
        assert all([await migrate(databases[s], ms) == [] for s, ms in MIGRATIONS.items()])
    finally:
        for database in databases.values():
            await database.close()


class Lease:
    """A fence source like MasterRole.fence: `(scope, epoch)` while held, else it raises."""

    def __init__(self, scope: str, epoch: int) -> None:
        self.scope, self.epoch, self.held = scope, epoch, True

    def __call__(self) -> tuple[str, int]:
        if not self.held:
            raise RuntimeError("not the master")
        return self.scope, self.epoch


def twin(db: Database, name: str, **timeouts: float) -> Database:
    """Another node's connection pool to the same database."""
    url = db.url.render_as_string(hide_password=False)
    return Database(url, name=name, timeouts=DatabaseTimeouts(**timeouts))  # type: ignore[arg-type]


async def taken(db: Database) -> list[int]:
    async with db.read() as conn:
        return list((await conn.execute(select(courses.c.taken).order_by(courses.c.id))).scalars())


async def test_a_write_whose_lease_ends_before_commit_is_rolled_back(db: Database) -> None:
    await migrate(db, TEST_MIGRATIONS)
    lease = Lease("course_data", 3)
    async with db.write(fence=lease) as conn:  # held throughout: committed
        await conn.execute(courses.insert().values(id=1, capacity=10, taken=0))

    async def write_then(change: Callable[[], None], value: int) -> None:
        async with db.write(fence=lease) as conn:
            await conn.execute(update(courses).values(taken=value))
            change()

    def lose() -> None:  # frozen here past the lease: nobody else has written yet
        lease.held = False

    def regain() -> None:  # lost the lease and got a new one while the transaction ran
        lease.epoch += 1

    with pytest.raises(LeaseEndedError):
        await write_then(lose, 5)
    lease.held = True
    with pytest.raises(LeaseEndedError):
        await write_then(regain, 6)
    assert await taken(db) == [0]
    async with db.write(fence=lease) as conn:  # the same source, holding again: writes
        await conn.execute(update(courses).values(taken=7))
    assert await taken(db) == [7]


async def test_a_fence_that_refuses_at_the_start_begins_nothing(db: Database) -> None:
    await migrate(db, TEST_MIGRATIONS)
    lease = Lease("course_data", 1)
    lease.held = False
    with pytest.raises(RuntimeError, match="not the master"):
        async with db.write(fence=lease):
            raise AssertionError("the block must not run")


async def test_postgres_sessions_carry_their_timeouts_and_name(postgres_dsn: str) -> None:
    db = Database(f"{postgres_dsn}/postgres", name="course_data/course_data-2", timeouts=DatabaseTimeouts())
    try:
        async with db.read() as conn:
            shown = {
                name: (await conn.execute(text(f"SHOW {name}"))).scalar_one()
                for name in (
                    "application_name",
                    "lock_timeout",
                    "statement_timeout",
                    "idle_in_transaction_session_timeout",
                    "tcp_keepalives_idle",
                )
            }
    finally:
        await db.close()
    assert shown == {
        "application_name": "course_data/course_data-2",
        "lock_timeout": "3s",
        "statement_timeout": "10s",
        "idle_in_transaction_session_timeout": "3s",
        "tcp_keepalives_idle": "1",
    }


async def pg(db: Database) -> None:
    if not db.is_postgres:
        pytest.skip("PostgreSQL only")
    await migrate(db, TEST_MIGRATIONS)
    async with db.write() as conn:
        await conn.execute(courses.insert().values(id=1, capacity=10, taken=0))


async def test_a_new_master_ends_the_fenced_session_its_predecessor_left_open(db: Database) -> None:
    """The predecessor sits inside a fenced write (frozen, cut off): the successor writes anyway."""
    await pg(db)
    old = twin(db, "course_data/a", lock_seconds=30, idle_in_transaction_seconds=60)
    new = twin(db, "course_data/b", lock_seconds=30)
    other_service = twin(db, "login/c", idle_in_transaction_seconds=60)
    inside, release = asyncio.Event(), asyncio.Event()

    async def frozen(database: Database, scope: str, epoch: int, value: int) -> None:
        async with database.write(fence=(scope, epoch)) as conn:
            await conn.execute(update(courses).where(courses.c.id == 1).values(taken=value))
            inside.set()
            await release.wait()

    try:
        stuck = asyncio.create_task(frozen(old, "course_data", 1, 99))
        await inside.wait()
        inside.clear()
        bystander = asyncio.create_task(frozen(other_service, "login", 1, 98))  # waits on the row
        async with new.write(fence=("course_data", 2)) as conn:  # does not wait 30 s behind it
            await conn.execute(courses.insert().values(id=2, capacity=1, taken=1))
        release.set()
        with pytest.raises(StorageUnavailableError):
            await stuck  # its session was terminated: it cannot commit
        await bystander  # another service's session is not touched
    finally:
        release.set()
        for database in (old, new, other_service):
            await database.close()
    assert await taken(db) == [98, 1]


async def test_postgres_ends_a_session_left_idle_inside_a_transaction(db: Database) -> None:
    await pg(db)
    idle = twin(db, "course_data/a", idle_in_transaction_seconds=0.3)
    try:

        async def write_and_idle() -> None:
            async with idle.write(fence=("course_data", 1)) as conn:
                await conn.execute(update(courses).values(taken=50))
                await asyncio.sleep(3)  # a frozen client sends nothing

        with pytest.raises(StorageUnavailableError):
            await write_and_idle()
    finally:
        await idle.close()
    assert await taken(db) == [0]


async def test_a_fenced_sqlite_write_waits_for_another_process_only_the_lock_timeout(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    db = Database(f"sqlite+aiosqlite:///{path}", timeouts=DatabaseTimeouts(lock_seconds=0.2))
    other = sqlite3.connect(path, isolation_level=None)
    try:
        await migrate(db, TEST_MIGRATIONS)
        other.execute("BEGIN IMMEDIATE")  # a frozen predecessor holding the write lock
        with pytest.raises(StorageUnavailableError, match="locked"):
            async with db.write(fence=("course_data", 1)) as conn:
                await conn.execute(courses.insert().values(id=1, capacity=1, taken=0))
        other.execute("ROLLBACK")
        async with db.write(fence=("course_data", 1)) as conn:
            await conn.execute(courses.insert().values(id=1, capacity=1, taken=0))
    finally:
        other.close()
        await db.close()


async def test_the_writes_of_one_process_take_turns_instead_of_timing_out(tmp_path: Path) -> None:
    """Many writers in one process wait on each other in turn, not in SQLite's busy loop."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}", timeouts=DatabaseTimeouts(lock_seconds=5))
    try:
        await migrate(db, TEST_MIGRATIONS)
        async with db.write() as conn:
            await conn.execute(courses.insert().values(id=1, capacity=100, taken=0))

        async def bump() -> None:
            async with db.write(fence=("course_data", 1)) as conn:
                await conn.execute(update(courses).values(taken=courses.c.taken + 1))

        await asyncio.gather(*(bump() for _ in range(40)))
        assert await taken(db) == [40]
    finally:
        await db.close()


async def test_a_deposed_masters_write_at_its_recorded_epoch_ends_before_its_successors_first_write(
    db: Database,
) -> None:
    """The old master's epoch is already recorded, so its write only reads the epoch's row: its
    successor's first write must still not commit while that transaction is open. Either the
    successor waits for it (MariaDB: here until its 1 s lock timeout) or it ends the old
    session (PostgreSQL); never do both commit, the successor first."""
    if db.is_sqlite:
        pytest.skip("SQLite: BEGIN IMMEDIATE serializes every write")
    await migrate(db, TEST_MIGRATIONS)
    async with db.write(fence=("course_data", 1)) as conn:  # epoch 1 recorded
        await conn.execute(courses.insert().values(id=1, capacity=10, taken=0))
    old, new = twin(db, "course_data/a", lock_seconds=30), twin(db, "course_data/b", lock_seconds=1)
    inside, release = asyncio.Event(), asyncio.Event()

    async def deposed() -> None:
        async with old.write(fence=("course_data", 1)) as conn:
            inside.set()
            await release.wait()
            await conn.execute(update(courses).where(courses.c.id == 1).values(taken=99))

    async def successor() -> None:
        async with new.write(fence=("course_data", 2)) as conn:
            await conn.execute(update(courses).where(courses.c.id == 1).values(taken=2))

    try:
        stuck = asyncio.create_task(deposed())
        await inside.wait()
        [succeeded] = await asyncio.gather(successor(), return_exceptions=True)  # the old one still open
        release.set()
        [ended] = await asyncio.gather(stuck, return_exceptions=True)
    finally:
        release.set()
        await old.close()
        await new.close()
    if succeeded is None:  # the successor wrote while the old transaction was open: it never commits
        assert isinstance(ended, StorageUnavailableError)
        assert await taken(db) == [2]
    else:  # it waited for the old transaction (and gave up): the old one committed first
        assert isinstance(succeeded, StorageUnavailableError)
        assert ended is None
        assert await taken(db) == [99]


async def test_rows_inserted_at_once_and_looked_up_among_many_keep_their_values(db: Database) -> None:
    """`insert_rows` (one statement for all rows) keeps text, times, flags, NULLs and defaults as
    a plain insert does; `among` finds exactly the listed keys, text compared byte by byte."""
    await migrate(db, MIGRATIONS["course_data"])
    at = 1764582000.123456
    async with db.write() as conn:
        await conn.execute(
            course_table.insert(),
            [{"id": i, "code": f"C{i}", "title": "t", "credits": 3, "capacity": 9, "updated_at": at} for i in (1, 2)],
        )
        rows = [
            {"course_id": 1 + i % 2, "student_id": 10 + i, "via_permit": i == 0, "created_at": at + i}
            for i in range(600)
        ]
        await insert_rows(conn, enrollment_table, rows)
        audit = [  # (no outcome: its default)
            {"at": at, "actor": "Zoë 😀", "action": "enroll", "student_id": None if i else 7, "reason": "Łukasz"}
            for i in range(3)
        ]
        await insert_rows(conn, ledger_audit, audit)
        await insert_rows(conn, ledger_audit, [])
    async with db.read() as conn:
        got = (
            await conn.execute(
                select(
                    enrollment_table.c.course_id,
                    enrollment_table.c.student_id,
                    enrollment_table.c.via_permit,
                    enrollment_table.c.created_at,
                ).order_by(enrollment_table.c.student_id)
            )
        ).all()
        logged = (await conn.execute(select(ledger_audit).order_by(ledger_audit.c.id))).all()
        wanted = [10, 11, 599, 10_000]
        found = (
            await conn.execute(
                select(enrollment_table.c.student_id).where(among(conn.dialect, enrollment_table.c.student_id, wanted))
            )
        ).scalars()
        codes = (
            await conn.execute(
                select(course_table.c.id).where(among(conn.dialect, course_table.c.code, ["C1", "c2", "C3"]))
            )
        ).scalars()
    assert [tuple(r) for r in got] == [
        (r["course_id"], r["student_id"], r["via_permit"], r["created_at"]) for r in rows
    ]
    assert [(r.actor, r.student_id, r.reason, r.outcome, r.at) for r in logged] == [
        ("Zoë 😀", 7, "Łukasz", "", at),
        ("Zoë 😀", None, "Łukasz", "", at),
        ("Zoë 😀", None, "Łukasz", "", at),
    ]
    assert sorted(found) == [10, 11, 599]
    assert list(codes) == [1]


async def test_queries_read_in_one_round_trip_answer_as_each_one_alone(db: Database) -> None:
    """`select_many` (one statement on the servers, the rows as JSON) gives each query's rows with
    the values a plain SELECT gives: fractional and whole times, flags, NULLs, text, a computed
    column, none at all."""
    await migrate(db, MIGRATIONS["course_data"])
    at = 1764582000.123456
    async with db.write() as conn:
        await conn.execute(
            course_table.insert(),
            [
                {"id": i, "code": f"C{i}", "title": "Zoë 😀", "credits": 3, "capacity": 9, "updated_at": at}
                for i in (1, 2)
            ],
        )
        rows = [
            {"course_id": 1 + i % 2, "student_id": 10 + i, "via_permit": i == 0, "created_at": float(1764582000 + i)}
            for i in range(5)
        ]
        await insert_rows(conn, enrollment_table, rows)
        await insert_rows(conn, ledger_audit, [{"at": at, "actor": "a", "action": "enroll", "student_id": None}])
    queries = [
        select(course_table).where(among(conn.dialect, course_table.c.id, [1, 2, 3])),
        select(enrollment_table).where(among(conn.dialect, enrollment_table.c.student_id, [10, 11, 14])),
        select(enrollment_table.c.course_id, func.count().label("n"))
        .where(among(conn.dialect, enrollment_table.c.student_id, [10, 12], "_other"))
        .group_by(enrollment_table.c.course_id),
        select(ledger_audit.c.id, ledger_audit.c.student_id, ledger_audit.c.at),
        select(course_table.c.id).where(course_table.c.id > 5),
    ]
    async with db.read() as conn:
        together = await select_many(conn, queries)
        alone = [(await conn.execute(q)).all() for q in queries]
    key = lambda row: tuple(str(v) for v in row)  # noqa: E731
    assert [sorted(map(tuple, rows), key=key) for rows in together] == [
        sorted(map(tuple, rows), key=key) for rows in alone
    ]
    [first] = [r for r in together[0] if r.id == 1]
    assert (first.code, first.title, first.updated_at) == ("C1", "Zoë 😀", at)
    assert [type(r.via_permit) for r in together[1]] == [bool] * 3  # (MySQL's JSON has none)
    assert [type(r.created_at) for r in together[1]] == [float] * 3  # (JSON writes 1764582000.0 as an integer)
    assert sorted((r.course_id, r.n) for r in together[2]) == [(1, 2)]
    assert together[4] == []


async def test_queries_read_in_one_round_trip_return_every_row_of_a_large_answer(db: Database) -> None:
    """A query's rows come whole however many bytes they make (MariaDB cuts JSON_ARRAYAGG at
    `group_concat_max_len`, 1 MiB by default, which the sessions raise): 3 MB of rows here."""
    await migrate(db, MIGRATIONS["course_data"])
    reason = "r" * 140
    async with db.write() as conn:
        audit = [
            {"at": 1.0 + i, "actor": "a", "action": "enroll", "student_id": i, "reason": reason} for i in range(20_000)
        ]
        await insert_rows(conn, ledger_audit, audit)
    async with db.read() as conn:
        rows, none = await select_many(
            conn, [select(ledger_audit.c.student_id, ledger_audit.c.reason), select(ledger_audit.c.id).where(False)]
        )
    assert sorted(r.student_id for r in rows) == list(range(20_000))
    assert {r.reason for r in rows} == {reason}
    assert none == []


async def test_an_update_among_values_changes_their_rows_and_reads_only_them(db: Database) -> None:
    """`among_written` in an UPDATE's WHERE: the rows named change, no other; on MySQL/MariaDB
    the server finds them by the primary key (EXPLAIN: a range, not every row of the table, as
    an IN subquery of an UPDATE is there)."""
    await migrate(db, TEST_MIGRATIONS)
    async with db.write() as conn:
        await insert_rows(conn, courses, [{"id": i, "capacity": 9, "taken": 0} for i in range(1, 2001)])
        named = among_written(conn.dialect, courses.c.id, [5, 7, 1999])
        change = update(courses).where(named).values(taken=courses.c.taken + 1)
        if db.is_mysql:
            sql = str(change.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
            plan = (await conn.exec_driver_sql(f"EXPLAIN {sql}", execution_options={"no_parameters": True})).all()
            assert [(row.table, row.type) for row in plan] == [("t_courses", "range")]
        await conn.execute(change)
    async with db.read() as conn:
        taken = (await conn.execute(select(courses.c.id).where(courses.c.taken == 1).order_by(courses.c.id))).all()
    assert [i for (i,) in taken] == [5, 7, 1999]


async def test_rows_inserted_together_keep_every_value_on_every_database(db: Database) -> None:
    """What a batch inserts reads back as it was sent, through each database's bulk path (on
    MariaDB the driver's prepared executemany): text a driver could take for placeholders,
    quotes or escapes, 4-byte characters, booleans, times to the microsecond, a column left
    to its default, a column NULL in every row (which MariaDB's bulk protocol cannot carry: it
    is left out), and more rows than one statement should carry."""
    await migrate(db, MIGRATIONS["course_data"])
    hostile = ["%s", "%(x)s", "%%", "'; DROP TABLE outbox; --", 'a "b" \\ c\\', "Zoë 😀 Łukasz", "", "\n\t"]
    rows = [
        {
            "user_id": i,
            "kind": "k",
            "subject": hostile[i % len(hostile)],
            "body": hostile[(i + 3) % len(hostile)] * (1 + i % 40),
            "created_at": 1764582000.123456 + i,
            "status": "pending",
            "next_attempt_at": 1764582000.654321,
            "finished_at": None,
        }
        for i in range(2500)
    ]
    async with db.write() as conn:
        await conn.execute(
            course_table.insert().values(id=1, code="C1", title="t", credits=3, capacity=9, updated_at=1.0)
        )
        pending = Inserts()
        pending.add(outbox, rows)
        seats = [{"course_id": 1, "student_id": s, "via_permit": s % 3 == 0, "created_at": 2.5} for s in range(9)]
        pending.add(enrollment_table, seats)
        before = await mysql_counts(conn) if db.is_mysql else {}
        await pending.send(conn)
        after = await mysql_counts(conn) if db.is_mysql else {}
    if db.is_mysql:  # each insert a prepared (bulk) one, none as text; the outbox's in parts of a megabyte
        inserts = after["Com_insert"] - before["Com_insert"]
        assert after["Com_stmt_execute"] - before["Com_stmt_execute"] == inserts >= 3
    async with db.read() as conn:
        kept = (await conn.execute(select(outbox).order_by(outbox.c.id))).all()
        held = (await conn.execute(select(enrollment_table.c.student_id, enrollment_table.c.via_permit))).all()
    assert [{k: getattr(r, k) for k in rows[0]} for r in kept] == rows
    assert {(r.attempts, r.delivered, r.last_error) for r in kept} == {(0, "", "")}
    assert sorted((s, bool(v)) for s, v in held) == [(s, s % 3 == 0) for s in range(9)]


async def test_rows_of_several_tables_sent_together_are_inserted_and_returned(db: Database) -> None:
    """`Inserts` (one statement for several tables on PostgreSQL) inserts every row added, in
    order, and returns the asked table's rows: each request's order number, as a SELECT would."""
    await migrate(db, MIGRATIONS["course_data"])
    async with db.write() as conn:
        await conn.execute(
            course_table.insert().values(id=1, code="C1", title="t", credits=3, capacity=9, updated_at=1.0)
        )
        pending = Inserts()
        pending.add(enrollment_table, [{"course_id": 1, "student_id": 7, "via_permit": False, "created_at": 2.5}])
        pending.add(ledger_audit, [{"at": 3.0, "actor": "a", "action": "enroll", "student_id": 7}])
        pending.add(enrollment_table, [{"course_id": 1, "student_id": 8, "via_permit": True, "created_at": 2.5}])
        decided = [
            {
                "request_id": f"r{i}",
                "student_id": 7,
                "action": "enroll",
                "course_id": 1,
                "drop_course_id": None,
                "outcome": "accepted",
                "type": "",
                "reason": "",
                "decided_at": 4.0,
            }
            for i in range(3)
        ]
        pending.add(queue_decisions, decided)
        wanted = Returning(
            queue_decisions,
            (queue_decisions.c.request_id, queue_decisions.c.seq),
            queue_decisions.c.request_id,
            tuple(d["request_id"] for d in decided),
        )
        returned = {r.request_id: r.seq for r in await pending.send(conn, wanted)}
        assert not pending
        assert await pending.send(conn) == []
    async with db.read() as conn:
        seqs = dict((await conn.execute(select(queue_decisions.c.request_id, queue_decisions.c.seq))).all())
        students = (await conn.execute(select(enrollment_table.c.student_id).order_by(enrollment_table.c.id))).all()
        audit = (await conn.execute(select(ledger_audit.c.student_id, ledger_audit.c.outcome))).all()
    assert returned == seqs
    assert sorted(seqs, key=seqs.__getitem__) == ["r0", "r1", "r2"]
    assert [s for (s,) in students] == [7, 8]
    assert [tuple(a) for a in audit] == [(7, "")]
