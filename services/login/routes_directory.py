"""`POST /internal/people`: who the ids and the identifiers other services hold name.

course_data and the other services keep internal user ids only; people name each other
by student number or username. This route answers both directions for a batch at once
(at most `MAX_REFS` of each, so one call stays small), read by `services/common/directory.py`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import or_, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.common.answers import JSONResponse
from services.common.body import read_json
from services.common.context import context_of
from services.common.internal import require_internal
from storage.schemas.login import users

MAX_REFS = 1000
PERSON_COLUMNS = (
    "id",
    "username",
    "role",
    "full_name",
    "email",
    "student_number",
    "cohort",
    "program",
    "year",
    "priority_group",
)


class PeopleQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[int] = Field(default_factory=list, max_length=MAX_REFS, description="internal user ids")
    names: list[str] = Field(
        default_factory=list, max_length=MAX_REFS, description="student numbers or usernames (either matches)"
    )


def person_json(row: Any) -> dict[str, Any]:
    return {column: getattr(row, column) for column in PERSON_COLUMNS}


async def people(request: Request) -> Response:
    """The users that `ids` and `names` (student numbers or usernames) name; unknown ones are left out.
    ---
    summary: People by id, student number or username (internal)
    tags: [internal]
    parameters:
      - {in: header, name: X-Internal-Token, required: true, schema: {type: string}}
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/PeopleQuery"}}}
    responses:
      "200":
        description: "Every user matched, once, by id"
        content:
          application/json:
            schema:
              type: object
              properties:
                items:
                  type: array
                  items:
                    type: object
                    properties:
                      id: {type: integer}
                      username: {type: string}
                      role: {type: string, enum: [student, teacher, admin, super_admin]}
                      full_name: {type: string}
                      email: {type: [string, "null"]}
                      student_number: {type: [string, "null"]}
                      cohort: {type: [integer, "null"]}
                      program: {type: [string, "null"]}
                      year: {type: [integer, "null"]}
                      priority_group: {type: [string, "null"]}
      "422": {description: "More than 1000 ids or names, or not a list of them"}
    """
    require_internal(request)
    query = await read_json(request, PeopleQuery)
    found: list[dict[str, Any]] = []
    if query.ids or query.names:
        names = sorted(set(query.names))
        conditions = []
        if query.ids:
            conditions.append(users.c.id.in_(sorted(set(query.ids))))
        if names:
            conditions += [users.c.username.in_(names), users.c.student_number.in_(names)]
        columns = [users.c[c] for c in PERSON_COLUMNS]
        async with context_of(request).database.read() as conn:
            rows = (await conn.execute(select(*columns).where(or_(*conditions)).order_by(users.c.id))).all()
        found = [person_json(r) for r in rows]
    return JSONResponse({"items": found})


DIRECTORY_MODELS: dict[str, type[BaseModel]] = {"PeopleQuery": PeopleQuery}


def directory_routes() -> list[BaseRoute]:
    return [Route("/internal/people", people, methods=["POST"])]
