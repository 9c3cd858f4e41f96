"""The people directory: internal ids to people, and people's identifiers to ids.

Users live in the login service's database; course_data and the other services hold
internal ids only, while people name each other by student number or username. Any
service asks the login master (`POST /internal/people`, by internal token) here, a
batch of up to `BATCH` identifiers per call.

How a reference reads (`resolve`): a number (`int`) is an internal id. A string is a
student number, else a username, else (all digits, as a CSV cell holding an id) an
internal id: so `"S1234567"`, `"ada"` and `"42"` (a file's id column) all name someone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
from pydantic import Field

from cluster.errors import MasterUnknownError
from services.common.calls import DependencyUnavailable
from services.common.context import NodeContext
from services.common.registration import Standing

BATCH = 1000  # identifiers per call: the route's bound (services/login/routes_directory.py)
PATH = "/internal/people"

# A person as a request body names them: an internal id, or a student number or username.
PersonRef = Annotated[int, Field(ge=1)] | Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


@dataclass(frozen=True)
class Person:
    id: int
    username: str
    role: str  # "student" | "teacher" | "admin" (or "super_admin")
    full_name: str
    email: str
    student_number: str | None
    cohort: str | None  # the year of entry, as text
    program: str | None = None  # the registrar's rules' other inputs (restrictions, priority windows)
    year: int | None = None
    priority_group: str | None = None

    @property
    def standing(self) -> Standing:
        """Who the person is for the registrar's rules, as their token would say."""
        cohort = int(self.cohort) if self.cohort and self.cohort.isdigit() else None
        return Standing(cohort, self.program, self.year, self.priority_group)


def _person(item: dict[str, Any]) -> Person:
    cohort = item.get("cohort")
    return Person(
        id=int(item["id"]),
        username=str(item["username"]),
        role=str(item["role"]),
        full_name=str(item.get("full_name") or ""),
        email=str(item.get("email") or ""),
        student_number=item.get("student_number"),
        cohort=None if cohort is None else str(cohort),
        program=item.get("program"),
        year=item.get("year"),
        priority_group=item.get("priority_group"),
    )


async def _ask(ctx: NodeContext, ids: list[int], names: list[str]) -> list[Person]:
    """One call to the login master; 503 (with Retry-After) when it cannot answer."""
    try:
        answer = await ctx.cluster.client.call_master("login", "POST", PATH, json={"ids": ids, "names": names})
    except MasterUnknownError as exc:
        raise DependencyUnavailable(f"login: {exc}", headers={"Retry-After": "1"}) from None
    except httpx.HTTPError as exc:
        raise DependencyUnavailable(f"login: {type(exc).__name__}", headers={"Retry-After": "1"}) from None
    if answer.status_code != 200:
        raise DependencyUnavailable(f"login answered {answer.status_code}", headers={"Retry-After": "1"})
    return [_person(item) for item in answer.json()["items"]]


async def _lookup(ctx: NodeContext, ids: Iterable[int], names: Iterable[str]) -> list[Person]:
    """Everyone the ids and names match, in calls of at most `BATCH` of each."""
    id_list, name_list = sorted(set(ids)), sorted(set(names))
    found: list[Person] = []
    for start in range(0, max(len(id_list), len(name_list)), BATCH):
        found += await _ask(ctx, id_list[start : start + BATCH], name_list[start : start + BATCH])
    return found


async def people_by_id(ctx: NodeContext, ids: Iterable[int]) -> dict[int, Person]:
    """Every id that exists, in one internal call to the login service (per `BATCH` ids)."""
    return {p.id: p for p in await _lookup(ctx, ids, ())}


def _is_id_text(ref: str) -> bool:
    return ref.isascii() and ref.isdigit() and len(ref) < 19


async def resolve(ctx: NodeContext, refs: Iterable[str | int], role: str | None = None) -> dict[str | int, Person]:
    """Each ref (an internal id, a student number, or a username) that names a user (of `role`, if given)."""
    wanted = list(dict.fromkeys(refs))
    ids = [r for r in wanted if isinstance(r, int)]
    names = [r for r in wanted if isinstance(r, str)]
    ids += [int(r) for r in names if _is_id_text(r)]
    found = await _lookup(ctx, ids, names)
    by_id = {p.id: p for p in found}
    by_number = {p.student_number: p for p in found if p.student_number}
    by_name = {p.username: p for p in found}
    named: dict[str | int, Person] = {}
    for ref in wanted:
        if isinstance(ref, int):
            person = by_id.get(ref)
        else:
            person = by_number.get(ref) or by_name.get(ref) or (by_id.get(int(ref)) if _is_id_text(ref) else None)
        if person is not None and (role is None or person.role == role):
            named[ref] = person
    return named
