"""The login service's tables: users, sessions, refresh tokens, signing keys, audit."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text

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
    Column("department", String(100)),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("totp_secret", String(64)),
    Column("totp_enabled", Boolean, nullable=False, default=False),
    Column("totp_last_step", Integer),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("password_changed_at", Float, nullable=False),
    Column("last_login_at", Float),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("refresh_hash", String(64), unique=True),
    Column("created_at", Float, nullable=False),
    Column("last_seen_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("end_reason", String(32)),
    Column("client", String(64)),
)

# Refresh tokens already exchanged: presenting one again means it was stolen.
used_refresh_tokens = Table(
    "used_refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("session_id", String(32), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("used_at", Float, nullable=False),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("private_jwk", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("retired_at", Float),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(128), nullable=False, default=""),
    Column("detail", Text, nullable=False, default="{}"),
    Index("ix_audit_log_at", "at"),
)

# Ended sessions to put on the replicated revocation list: written in the transaction that
# ends them, delivered by the login master until Raft has committed them (no foreign key:
# a deleted user's sessions go, their revocations must not). See services/login/revocations.py.
session_revocations = Table(
    "session_revocations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(32), nullable=False),
    Column("until", Float, nullable=False),  # no access token of the session lives past this
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float),  # when Raft committed it; NULL: still to deliver
    Index("ix_session_revocations_pending", "delivered_at", "id"),
    Index("ix_session_revocations_session", "session_id"),
)

_FIRST = (users, sessions, used_refresh_tokens, signing_keys, audit_log)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(100, "users, sessions, refresh tokens, keys, audit", create_tables(*_FIRST)),
    Migration(110, "session revocation outbox", create_tables(session_revocations)),
)
