"""Each service's schema as an ordered list of migrations."""

from __future__ import annotations

from storage.migrations import Migration
from storage.schemas import core, course_data, login

MIGRATIONS: dict[str, tuple[Migration, ...]] = {
    "course_data": (*core.MIGRATIONS, *course_data.MIGRATIONS),
    "login": (*core.MIGRATIONS, *login.MIGRATIONS),
    "teacher": core.MIGRATIONS,
    "student": core.MIGRATIONS,
    "queue": core.MIGRATIONS,
}
