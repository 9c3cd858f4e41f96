"""The login service's tables: users, sessions, refresh tokens, signing keys, audit."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Double, ForeignKey, Index, Integer, MetaData, String, Table, Text, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.dialects import MYSQL_TABLE
from storage.migrations import Migration, create_tables

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(100), nullable=False),
    Column("must_change_password", Boolean, nullable=False, default=False),
    Column("full_name", String(200), nullable=False, default=""),
    Column("email", String(254)),
    Column("phone", String(32)),
    Column("student_number", String(32), unique=True),
    Column("cohort", Integer),
    # The registrar's rules' inputs (migration 130): restrictions by program and year of study,
    # and the priority group whose registration window the student uses.
    Column("program", String(32)),
    Column("year", Integer),
    Column("priority_group", String(32)),
    Column("department", String(100)),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("totp_secret", String(64)),
    Column("totp_enabled", Boolean, nullable=False, default=False),
    Column("totp_last_step", Integer),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("password_changed_at", Double, nullable=False),
    Column("last_login_at", Double),
    **MYSQL_TABLE,
    # AUTOINCREMENT: SQLite would otherwise give a deleted last user's id to the next one,
    # and with it that student's enrollments and holds in course_data. (PostgreSQL's
    # identity sequence never goes back.)
    sqlite_autoincrement=True,
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("refresh_hash", String(64), unique=True),
    Column("created_at", Double, nullable=False),
    Column("last_seen_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("ended_at", Double),
    Column("end_reason", String(32)),
    Column("client", String(64)),
    **MYSQL_TABLE,
)

# Refresh tokens already exchanged: presenting one again means it was stolen.
used_refresh_tokens = Table(
    "used_refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("session_id", String(32), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("used_at", Double, nullable=False),
    **MYSQL_TABLE,
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("private_jwk", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("retired_at", Double),
    **MYSQL_TABLE,
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Double, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(128), nullable=False, default=""),
    Column("detail", Text, nullable=False, default="{}"),
    Index("ix_audit_log_at", "at"),
    **MYSQL_TABLE,
)

# Ended sessions to put on the replicated revocation list: written in the transaction that
# ends them, delivered by the login master until Raft has committed them (no foreign key:
# a deleted user's sessions go, their revocations must not). See services/login/revocations.py.
session_revocations = Table(
    "session_revocations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(32), nullable=False),
    Column("until", Double, nullable=False),  # no access token of the session lives past this
    Column("created_at", Double, nullable=False),
    Column("delivered_at", Double),  # when Raft committed it; NULL: still to deliver
    Index("ix_session_revocations_pending", "delivered_at", "id"),
    Index("ix_session_revocations_session", "session_id"),
    **MYSQL_TABLE,
)

# One-time set-password tokens (their SHA-256 only): imported accounts without a password get
# one by email and cannot sign in until it is used (services/login/password_tokens.py).
password_tokens = Table(
    "password_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    # No foreign key (a later migration cannot rely on `users` in every test database): a token
    # is honoured only for an account created no later than the token itself.
    Column("user_id", Integer, nullable=False, index=True),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("used_at", Double),
    **MYSQL_TABLE,
)


async def _user_ids_never_reused(conn: AsyncConnection) -> None:
    """Rebuild a SQLite users table made without AUTOINCREMENT (SQLite's 12-step way; the
    migration runs with foreign key actions off, so sessions survive the drop)."""
    if conn.dialect.name != "sqlite":
        return
    found = await conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'")
    if "AUTOINCREMENT" in found.scalar_one().upper():
        return
    rebuilt = users.to_metadata(MetaData(), name="users_rebuilt")
    await conn.run_sync(rebuilt.create)
    present = await _columns(conn, "users")  # (columns added by later migrations are not there yet)
    columns = ", ".join(f'"{c.name}"' for c in users.columns if c.name in present)
    await conn.exec_driver_sql(f"INSERT INTO users_rebuilt ({columns}) SELECT {columns} FROM users")
    await conn.exec_driver_sql("DROP TABLE users")
    await conn.exec_driver_sql("ALTER TABLE users_rebuilt RENAME TO users")


async def _columns(conn: AsyncConnection, table: str) -> set[str]:
    def names(sync: Connection) -> set[str]:
        return {c["name"] for c in inspect(sync).get_columns(table)}

    return await conn.run_sync(names)


async def _standing(conn: AsyncConnection) -> None:
    """Add program, year and priority group to users (a database made since has them)."""
    present = await _columns(conn, "users")
    for column, ddl in (("program", "VARCHAR(32)"), ("year", "INTEGER"), ("priority_group", "VARCHAR(32)")):
        if column not in present:
            await conn.exec_driver_sql(f"ALTER TABLE users ADD COLUMN {column} {ddl}")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        100,
        "users, sessions, refresh tokens, keys, audit",
        create_tables(users, sessions, used_refresh_tokens, signing_keys, audit_log),
    ),
    Migration(101, "user ids never reused (SQLite AUTOINCREMENT)", _user_ids_never_reused),
    Migration(110, "session revocation outbox", create_tables(session_revocations)),
    Migration(120, "set-password tokens", create_tables(password_tokens)),
    Migration(130, "program, year and priority group of users", _standing),
)
