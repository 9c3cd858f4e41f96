"""Teacher-facing operations on their own courses, decided by the course_data ledger."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.common.auth import authenticate
from services.common.calls import call_service, relay
from services.common.csv_out import csv_response, roster_csv, wants_csv


async def _forward(request: Request, method: str, suffix: str = "") -> Response:
    """Send the teacher's request on to course_data, scoped to this teacher's id."""
    me = await authenticate(request, "teacher")
    path = f"/internal/teaching/{me.user_id}/courses{suffix}"
    body = await request.body()
    headers = {"content-type": request.headers.get("content-type", "application/json")} if body else {}
    return relay(await call_service(request, "course_data", method, path, content=body, headers=headers))


async def list_own(request: Request) -> Response:
    """Your courses.
    ---
    summary: My courses
    tags: [teaching]
    security: [{bearer: []}]
    responses:
      "200":
        description: "items: your courses"
        content: {application/json: {schema: {$ref: "#/components/schemas/CourseList"}}}
    """
    return await _forward(request, "GET")


async def create_own(request: Request) -> Response:
    """Create a course you teach.
    ---
    summary: Create a course
    tags: [teaching]
    security: [{bearer: []}]
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/CourseIn"}}}
    responses:
      "201":
        description: "The course"
        content: {application/json: {schema: {$ref: "#/components/schemas/Course"}}}
      "409": {description: "The code is taken"}
      "422": {description: "Invalid fields"}
    """
    return await _forward(request, "POST")


async def update_own(request: Request) -> Response:
    """Change capacity (never below seats taken), meeting times (refused, with the affected students,
    if they would clash for enrolled students) or the description.
    ---
    summary: Update your course
    tags: [teaching]
    security: [{bearer: []}]
    parameters: [{in: path, name: id, required: true, schema: {type: integer}}]
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/CoursePatch"}}}
    responses:
      "200":
        description: "The course"
        content: {application/json: {schema: {$ref: "#/components/schemas/Course"}}}
      "404": {description: "Not your course"}
      "409": {description: "Capacity below seats taken, or clashes (students lists who)"}
    """
    return await _forward(request, "PATCH", f"/{request.path_params['id']}")


async def roster(request: Request) -> Response:
    """The students of your course and its waitlist in order, with names, student numbers and emails:
    JSON, or CSV with Accept: text/csv (or ?format=csv).
    ---
    summary: Roster
    tags: [teaching]
    security: [{bearer: []}]
    parameters:
      - {in: path, name: id, required: true, schema: {type: integer}}
      - {in: query, name: format, schema: {type: string, enum: [json, csv]}}
    responses:
      "200":
        description: "The roster: course, students (in order of enrollment), waitlist (in order)"
        content:
          application/json: {schema: {$ref: "#/components/schemas/Roster"}}
          text/csv: {schema: {type: string}}
      "404": {description: "Not your course"}
    """
    answer = await _forward(request, "GET", f"/{request.path_params['id']}/roster")
    as_csv = wants_csv(request.headers.get("accept", ""), request.query_params.get("format"))
    if answer.status_code != 200 or not as_csv:
        return answer
    data = json.loads(bytes(answer.body))
    return csv_response(roster_csv(data), f"roster-{data['course']['code']}.csv")


async def remove_student(request: Request) -> Response:
    """Take a student out of your course, with a reason; the seat goes to the waitlist.
    ---
    summary: Remove a student
    tags: [teaching]
    security: [{bearer: []}]
    parameters:
      - {in: path, name: id, required: true, schema: {type: integer}}
      - {in: path, name: student_id, required: true, schema: {type: integer}}
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/Removal"}}}
    responses:
      "204": {description: "Removed"}
      "404": {description: "Not your course, or not your student"}
    """
    return await _forward(
        request, "DELETE", f"/{request.path_params['id']}/students/{request.path_params['student_id']}"
    )


async def grant_permit(request: Request) -> Response:
    """Let one student past capacity and/or prerequisites of your course, or consent to them taking it.
    ---
    summary: Grant a permit
    tags: [teaching]
    security: [{bearer: []}]
    parameters: [{in: path, name: id, required: true, schema: {type: integer}}]
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/PermitIn"}}}
    responses:
      "201":
        description: "The permit"
        content: {application/json: {schema: {$ref: "#/components/schemas/Permit"}}}
      "404": {description: "Not your course"}
    """
    return await _forward(request, "POST", f"/{request.path_params['id']}/permits")


def teacher_routes() -> list[BaseRoute]:
    return [
        Route("/teacher/courses", list_own, methods=["GET"]),
        Route("/teacher/courses", create_own, methods=["POST"]),
        Route("/teacher/courses/{id:int}", update_own, methods=["PATCH"]),
        Route("/teacher/courses/{id:int}/roster", roster, methods=["GET"]),
        Route("/teacher/courses/{id:int}/students/{student_id:int}", remove_student, methods=["DELETE"]),
        Route("/teacher/courses/{id:int}/permits", grant_permit, methods=["POST"]),
    ]
