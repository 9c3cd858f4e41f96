"""Tables every service's database has: fencing epochs, the masters' write checks, the notification
outbox, and import jobs."""

from __future__ import annotations

from sqlalchemy import Column, Double, Index, Integer, MetaData, String, Table, Text

from storage.dialects import LONG_TEXT, MYSQL_TABLE
from storage.fencing import fencing_epochs
from storage.migrations import Migration, create_tables

metadata = MetaData()

# One row per successful `POST /cluster/write-check`: proof that a master could commit.
write_checks = Table(
    "write_checks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("node_id", String(64), nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("written_at", Double, nullable=False),
    **MYSQL_TABLE,
)

# Notifications to send, written in the same transaction as the change they tell about;
# the service's master delivers them (email, SMS) with retries, see services/common/outbox.py.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("status", String(16), nullable=False),  # pending, sent, logged, failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Double, nullable=False),
    Column("delivered", String(32), nullable=False, default=""),  # channels done: "email,sms"
    Column("last_error", Text, nullable=False, default=""),
    Column("finished_at", Double),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    **MYSQL_TABLE,
)

# CSV imports run as jobs on the service's master (services/common/jobs.py): the row is the
# client's view of the work (status, progress, every error, the result) and outlives the request.
import_jobs = Table(
    "import_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),  # users, courses, completed
    Column("status", String(16), nullable=False),  # queued, running, succeeded, failed
    Column("phase", String(16), nullable=False, default=""),  # parsing, validating, checking, hashing, writing
    Column("rows_total", Integer, nullable=False, default=0),
    Column("rows_done", Integer, nullable=False, default=0),
    Column("submitted_by", String(64), nullable=False),
    Column("submitted_role", String(16), nullable=False),
    Column("node_id", String(64), nullable=False),  # the master that runs it
    Column("epoch", Integer, nullable=False),  # its master epoch: a later master fails it as interrupted
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("finished_at", Double),
    Column("detail", Text, nullable=False, default=""),
    Column("error_count", Integer, nullable=False, default=0),
    Column("errors", LONG_TEXT, nullable=False, default="[]"),  # JSON: [{line, field, reason}], capped
    Column("result", LONG_TEXT),  # JSON, once succeeded (the ids of 30,000 accounts: more than MySQL's TEXT)
    Index("ix_import_jobs_status", "status"),
    **MYSQL_TABLE,
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "fencing epochs", create_tables(fencing_epochs)),
    Migration(2, "write checks", create_tables(write_checks)),
    Migration(3, "notification outbox", create_tables(outbox)),
    Migration(10, "import jobs", create_tables(import_jobs)),
)
