"""References to people in course_data's requests and imports: who they name, checked.

A student or teacher is named by internal id, student number or username (the rule of
`services/common/directory.py`); course_data keeps the internal id. A reference that
names nobody, or someone of another role, is a 422 naming the field (a request) or a
`{line, field, reason}` (an import row).

course_data alone (a configuration with no login service, as some tests run it) cannot
look anyone up: ids are then taken as given and other references refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from services.common.context import NodeContext
from services.common.directory import Person, resolve
from services.common.problems import ValidationFailed

Ref = str | int


class Named(NamedTuple):
    id: int
    full_name: str  # "" when there is no login service to ask


ROLE_NOUN = {"student": "a student", "teacher": "a teacher"}


def has_directory(ctx: NodeContext) -> bool:
    return any(node.service == "login" for node in ctx.config.nodes)


def _as_id(ref: Ref) -> int | None:
    if isinstance(ref, int):
        return ref
    return int(ref) if ref.isascii() and ref.isdigit() and len(ref) < 19 else None


async def named(ctx: NodeContext, refs: Iterable[Ref], role: str) -> dict[Ref, Named | str]:
    """Each ref -> the `role` user it names, or the reason it names none (one lookup per 1000)."""
    wanted = list(dict.fromkeys(refs))
    if not has_directory(ctx):
        found: dict[Ref, Named | str] = {}
        for ref in wanted:
            given = _as_id(ref)
            found[ref] = Named(given, "") if given is not None else "no login service to look this up: give the id"
        return found
    people: dict[Ref, Person] = await resolve(ctx, wanted)
    answer: dict[Ref, Named | str] = {}
    for ref in wanted:
        person = people.get(ref)
        if person is None:
            answer[ref] = f"{ref!r} names no user (an id, a student number or a username)"
        elif person.role != role:
            answer[ref] = f"{ref!r} is {person.username}, a {person.role}, not {ROLE_NOUN.get(role, role)}"
        else:
            answer[ref] = Named(person.id, person.full_name)
    return answer


def refused(field: str, reason: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {reason}", errors=[{"field": field, "message": reason}])


async def one(ctx: NodeContext, ref: Ref, role: str, field: str) -> Named:
    """The `role` user `ref` names; 422 naming `field` otherwise."""
    found = (await named(ctx, [ref], role))[ref]
    if isinstance(found, str):
        raise refused(field, found)
    return found
