"""Tables every service's database has: the fencing epochs."""

from __future__ import annotations

from storage.fencing import fencing_epochs
from storage.migrations import Migration, create_tables

MIGRATIONS: tuple[Migration, ...] = (Migration(1, "fencing epochs", create_tables(fencing_epochs)),)
