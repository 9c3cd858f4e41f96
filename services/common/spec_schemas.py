"""The JSON Schemas of the answers, one component each, for every service's OpenAPI.

The routes build their answers as dicts (the catalogue's JSON is cached as bytes; an
import job's errors are spliced in as stored), so these schemas are the contract written
down once: the route docstrings refer to them by name, every service's document carries
the ones its routes use, and `tests/cluster/test_openapi_conformance.py` checks real
answers against them. Objects list every field they carry and allow no other
(`additionalProperties: false`): a field added to an answer without its schema fails
that test. The problem+json shape is `services.common.problems.PROBLEM_SCHEMA`.
"""

from __future__ import annotations

from typing import Any

from cluster.settings import Settings

# An instant, as every answer gives it (`services.common.instants`): the field's name says it is one.
INSTANT = {"type": "string", "format": "date-time", "description": "ISO 8601 with an offset"}
INSTANT_OR_NULL = {"type": ["string", "null"], "format": "date-time", "description": "ISO 8601 with an offset, or null"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(summary: str, /, *, open_fields: bool = False, **properties: Any) -> dict[str, Any]:
    """An object with all of `properties` required; `open_fields`: others may follow."""
    return {
        "type": "object",
        "description": summary,
        "required": list(properties),
        "properties": properties,
        "additionalProperties": open_fields,
    }


def _with_sections(course: dict[str, Any]) -> dict[str, Any]:
    """A course as `GET /courses/{id}` answers it: with `sections`, its offering's sections in
    brief (not required: a list of courses leaves it out)."""
    brief = ("id", "section", "kind", "linked_to", "teacher_name", "location", "capacity", "seats_left", "meetings")
    sections = {
        "type": "array",
        "description": "every section of its offering (itself included), by section name",
        "items": obj("A section, in brief", **{k: _COURSE_FIELDS[k] for k in brief}),
    }
    return {**course, "properties": {**course["properties"], "sections": sections}}


def page(item: str, description: str) -> dict[str, Any]:
    """`{items, page, page_size, total}`: one page of a list (`?page=&page_size=`)."""
    return obj(
        description,
        items={"type": "array", "items": ref(item)},
        page={"type": "integer", "minimum": 1},
        page_size={"type": "integer", "minimum": 1, "maximum": 100},
        total={"type": "integer", "minimum": 0, "description": "items on every page"},
    )


def _nullable(kind: str) -> dict[str, Any]:
    return {"type": [kind, "null"]}


_STRING, _INT, _BOOL, _NUMBER = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}, {"type": "number"}
_PLAN_OUTCOME = {"type": "string", "enum": ["enrolled", "waitlisted", "refused"]}
_COURSE_FIELDS: dict[str, Any] = {
    "id": _INT,
    "term_id": _INT,
    "term": {"type": "string", "description": "the term's code"},
    "code": {"type": "string", "description": "unique within the term (with the section)"},
    "section": {"type": "string", "description": 'its name in its offering (e.g. "L01"); "" for a single section'},
    "kind": {"type": "string", "description": "lecture, lab, tutorial...: one section of each kind is taken"},
    "linked_to": {**_nullable("integer"), "description": "the section of its offering it is taken only with"},
    "title": _STRING,
    "department": _STRING,
    "teacher_id": _nullable("integer"),
    "teacher_name": _STRING,
    "credits": _INT,
    "capacity": _INT,
    "taken": {"type": "integer", "description": "seats taken"},
    "seats_left": _INT,
    "waitlist_length": _INT,
    "meetings": {"type": "array", "items": ref("MeetingTime")},
    "prerequisites": {"type": "array", "items": _STRING, "description": "course codes, sorted"},
    "corequisites": {
        "type": "array",
        "items": _STRING,
        "description": "course codes taken the same term (enrolled in, or completed), sorted",
    },
    "restrictions": {
        "type": "object",
        "description": "who may take it, per kind (an empty list: anyone)",
        "required": ["program", "year", "cohort"],
        "properties": {
            "program": {"type": "array", "items": _STRING},
            "year": {"type": "array", "items": _INT},
            "cohort": {"type": "array", "items": _INT},
        },
        "additionalProperties": False,
    },
    "consent_required": {"type": "boolean", "description": "students need a consent permit from the teacher"},
    "location": _STRING,
    "description": _STRING,
}
_USER_FIELDS: dict[str, Any] = {
    "id": _INT,
    "username": _STRING,
    "role": {"type": "string", "enum": ["student", "teacher", "admin", "super_admin"]},
    "full_name": _STRING,
    "email": _nullable("string"),
    "phone": _nullable("string"),
    "student_number": _nullable("string"),
    "cohort": _nullable("integer"),
    "program": _nullable("string"),
    "year": _nullable("integer"),
    "priority_group": _nullable("string"),
    "department": _nullable("string"),
    "disabled": _BOOL,
    "must_change_password": _BOOL,
    "totp_enabled": _BOOL,
    "created_at": INSTANT,
    "updated_at": INSTANT,
    "last_login_at": INSTANT_OR_NULL,
}
_TOKEN_FIELDS: dict[str, Any] = {
    "access_token": {"type": "string", "description": "a JWT (EdDSA), sent as `Authorization: Bearer`"},
    "refresh_token": _STRING,
    "token_type": {"type": "string", "const": "Bearer"},
    "expires_in": {"type": "integer", "description": "seconds the access token is valid"},
    "must_change_password": _BOOL,
    "must_set_up_2fa": _BOOL,
}
_JOB_STATUS = {"type": "string", "enum": ["queued", "running", "succeeded", "failed"]}


def _settings_answer() -> dict[str, Any]:
    schema = Settings.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    schema["properties"]["version"] = {"type": "integer", "description": "bumped by every change"}
    schema["required"] = [*schema["properties"]]
    schema["description"] = "The cluster-wide settings (secrets masked), and their version"
    return schema


def _settings_sections() -> dict[str, Any]:
    """The settings models' sections (SecuritySettings, ...), as components the answer refers to."""
    return dict(Settings.model_json_schema(ref_template="#/components/schemas/{model}")["$defs"])


def answer_schemas() -> dict[str, dict[str, Any]]:
    """Every answer's schema, by component name (a service's document keeps those it uses)."""
    return {
        # every node
        "Health": obj(
            "The node is up",
            status={"type": "string", "const": "ok"},
            service=_STRING,
            node=_STRING,
            uptime_seconds=_NUMBER,
        ),
        "Ready": obj(
            "Every dependency answered",
            ready={"type": "boolean", "const": True},
            node=_STRING,
            checks={"type": "object", "additionalProperties": {"type": "string", "const": "ok"}},
        ),
        "OpenApiDocument": {"type": "object", "description": "An OpenAPI 3.1 document", "required": ["openapi"]},
        "ClusterStatus": obj(
            "This node's view of the cluster",
            open_fields=True,
            node={"type": "object", "required": ["id", "service", "is_master", "epoch"]},
            raft={"type": "object", "required": ["state", "term", "leader", "has_quorum", "commit_index"]},
            members={"type": "array", "items": ref("Member")},
            masters={
                "type": "object",
                "description": "service -> its master (null: none now)",
                "additionalProperties": {
                    "anyOf": [
                        obj("A master", node=_STRING, epoch=_INT, expires_in=_NUMBER),
                        {"type": "null"},
                    ]
                },
            },
            epochs={"type": "object", "additionalProperties": _INT},
        ),
        "Member": obj(
            "A node of the membership",
            id=_STRING,
            service=_STRING,
            url=_STRING,
            raft=_STRING,
            version=_STRING,
            started_at=INSTANT,
            last_heartbeat=INSTANT,
            seconds_since_heartbeat=_NUMBER,
            healthy=_BOOL,
            raft_connected=_BOOL,
        ),
        "ReplicatedState": obj(
            "Digests of the replicated state, to compare across nodes",
            open_fields=True,
            node=_STRING,
            applied={"type": "integer", "description": "state-machine commands applied"},
            checkpoints={
                "type": "object",
                "description": "command count -> digest",
                "additionalProperties": _STRING,
            },
        ),
        "WriteCheckDone": obj("The row written", id=_nullable("integer"), node=_STRING, epoch=_INT),
        "MemberAdded": obj("Added to the Raft group", added=_STRING, raft=_STRING),
        "MemberRemoved": obj("Removed from the Raft group", removed=_STRING),
        "Notification": obj(
            "A message in the outbox",
            id=_INT,
            user_id=_INT,
            kind=_STRING,
            subject=_STRING,
            body=_STRING,
            created_at=INSTANT,
            status={"type": "string", "enum": ["pending", "sent", "logged", "failed"]},
            attempts=_INT,
            next_attempt_at=INSTANT,
            delivered={"type": "string", "description": "the channel it went by"},
            last_error=_STRING,
            finished_at=INSTANT_OR_NULL,
        ),
        "NotificationPage": page("Notification", "Notifications, newest first"),
        # imports
        "ImportAccepted": obj(
            "The import job, queued (its url is in Location too)",
            id=_INT,
            kind=_STRING,
            status={"type": "string", "const": "queued"},
            url=_STRING,
        ),
        "ImportJob": obj(
            "An import job",
            id=_INT,
            kind={"type": "string", "enum": ["users", "courses", "completed"]},
            url=_STRING,
            status=_JOB_STATUS,
            progress=obj(
                "How far it is",
                phase={"type": "string", "description": "parsing, validating, checking, hashing, writing, done"},
                rows_done=_INT,
                rows_total=_INT,
            ),
            submitted_by=_STRING,
            created_at=INSTANT,
            updated_at=INSTANT,
            finished_at=INSTANT_OR_NULL,
            detail=_STRING,
            error_count={"type": "integer", "description": "bad rows in all"},
            errors_listed=_INT,
            errors={"type": "array", "items": ref("ImportError")},
            result={
                "description": "succeeded: what was made (created and ids, or recorded); otherwise null",
                "anyOf": [{"type": "object"}, {"type": "null"}],
            },
        ),
        "ImportError": obj(
            "A bad row of an imported file",
            line={"type": "integer", "description": "the file's line (the header is line 1)"},
            field=_STRING,
            reason=_STRING,
        ),
        # courses (course_data, and the teacher and student services that relay it)
        "MeetingTime": obj(
            "A weekly meeting",
            weekday={"type": "integer", "minimum": 0, "maximum": 6, "description": "0 Monday .. 6 Sunday"},
            day={"type": "string", "enum": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]},
            start={"type": "string", "examples": ["09:00"]},
            end={"type": "string", "examples": ["10:30"]},
        ),
        "Course": _with_sections(obj("A course (a section of its offering)", **_COURSE_FIELDS)),
        "CoursePage": page("Course", "Courses, by code"),
        "CourseList": obj("Courses", items={"type": "array", "items": ref("Course")}),
        "CourseForStudent": obj(
            "A course, and what enrolling now would give this student",
            **_COURSE_FIELDS,
            outcome={"type": "string", "enum": ["accepted", "waitlisted", "rejected"]},
            can_enroll=_BOOL,
            type={"type": "string", "description": "the refusing rule's problem type; empty if none"},
            reason=_STRING,
        ),
        "CourseForStudentPage": page("CourseForStudent", "Courses, by code, as this student would fare"),
        "WaitlistPlace": obj(
            "A course with the student's place on its waitlist",
            **_COURSE_FIELDS,
            position={"type": "integer", "minimum": 1},
        ),
        "StudentCourses": obj(
            "A student's enrollments and waitlist places in one term",
            term=ref("Term"),
            enrolled={"type": "array", "items": ref("Course")},
            waitlisted={"type": "array", "items": ref("WaitlistPlace")},
        ),
        "Roster": obj(
            "A course's students, in order of enrollment, and its waitlist, first come first served",
            course=ref("Course"),
            students={
                "type": "array",
                "items": obj(
                    "An enrolled student",
                    student_id=_INT,
                    student_number={"type": ["string", "null"]},
                    full_name=_STRING,
                    email=_STRING,
                    username=_STRING,
                    enrolled_at=INSTANT,
                    via_permit=_BOOL,
                ),
            },
            waitlist={
                "type": "array",
                "items": obj(
                    "A student on the waitlist",
                    position={"type": "integer", "description": "1 is next for a free seat"},
                    student_id=_INT,
                    student_number={"type": ["string", "null"]},
                    full_name=_STRING,
                    email=_STRING,
                    username=_STRING,
                    joined_at=INSTANT,
                ),
            },
        ),
        "Permit": obj(
            "A permit for one student in one course",
            course_id=_INT,
            student_id=_INT,
            capacity={"type": "boolean", "description": "may enroll past capacity"},
            prerequisites={"type": "boolean", "description": "may skip prerequisites"},
            consent={"type": "boolean", "description": "the teacher consents (an instructor-consent course)"},
        ),
        "Term": obj(
            "A term (the current one is what a request naming no term means)",
            id=_INT,
            code=_STRING,
            name=_STRING,
            starts_on={"type": ["string", "null"], "format": "date", "description": "first day"},
            ends_on={"type": ["string", "null"], "format": "date", "description": "last day"},
            starts_at=INSTANT_OR_NULL,
            ends_at={**INSTANT_OR_NULL, "description": "the midnight after the last day (ISO 8601 with an offset)"},
            dates_from_settings={
                "type": "boolean",
                "description": "the term has no dates of its own: course.term_start/term_end stand in",
            },
            timezone={"type": "string", "description": "IANA name"},
            drop_deadline=INSTANT_OR_NULL,
            current=_BOOL,
            created_at=INSTANT,
            updated_at=INSTANT,
        ),
        "TermPage": page("Term", "Terms, newest first"),
        "CopyAnswer": obj(
            "Courses copied into a term",
            term=_STRING,
            term_id=_INT,
            created={"type": "object", "additionalProperties": _INT, "description": "code -> new course id"},
        ),
        "Timetable": obj(
            "A student's week",
            term=ref("Term"),
            term_start={"type": ["string", "null"], "format": "date"},
            term_end={"type": ["string", "null"], "format": "date"},
            credits=_INT,
            courses={
                "type": "array",
                "items": obj(
                    "An enrolled course",
                    id=_INT,
                    code=_STRING,
                    title=_STRING,
                    credits=_INT,
                    location=_STRING,
                    meetings={"type": "array", "items": ref("MeetingTime")},
                ),
            },
            week={
                "type": "array",
                "description": "every meeting, by day and time",
                "items": obj(
                    "A meeting of an enrolled course",
                    weekday=_INT,
                    day=_STRING,
                    start=_STRING,
                    end=_STRING,
                    course_id=_INT,
                    code=_STRING,
                    title=_STRING,
                    location=_STRING,
                ),
            },
        ),
        # registration (course_data)
        "Window": obj(
            "A registration window; its audience: one student (a time ticket), a priority group, a cohort, "
            "or everyone (all null); the most specific a student belongs to applies",
            id=_INT,
            term_id=_INT,
            cohort=_nullable("integer"),
            student_id=_nullable("integer"),
            priority_group=_nullable("string"),
            opens_at=INSTANT,
            closes_at=INSTANT,
            drop_deadline=INSTANT,
        ),
        "Windows": obj("The registration windows", windows={"type": "array", "items": ref("Window")}),
        "Hold": obj(
            "A hold: the student may not enroll until it is lifted",
            id=_INT,
            student_id=_INT,
            reason=_STRING,
            created_by=_STRING,
            created_at=INSTANT,
        ),
        "HoldPage": page("Hold", "Holds"),
        "Completed": obj(
            "A student's completed courses",
            student_id=_INT,
            course_codes={"type": "array", "items": _STRING},
        ),
        "AuditEntry": obj(
            "One change to the registrar's data",
            id=_INT,
            at=INSTANT,
            actor=_STRING,
            action=_STRING,
            student_id=_nullable("integer"),
            course_id=_nullable("integer"),
            outcome=_STRING,
            reason=_STRING,
            overrides={"type": "string", "description": "a desk action's overrides, comma-separated ('' if none)"},
        ),
        "AuditPage": page("AuditEntry", "Audit records, newest first"),
        # accounts (login)
        "User": obj("An account", **_USER_FIELDS),
        "UserPage": page("User", "Accounts"),
        "CreatedUser": {
            **obj("The account made", **_USER_FIELDS, temporary_password=_STRING),
            "required": list(_USER_FIELDS),  # temporary_password: only when one was made
        },
        "Me": obj("Your account, and this session's id", **_USER_FIELDS, session_id=_STRING),
        "Tokens": obj("A token pair", **_TOKEN_FIELDS),
        "Contact": obj(
            "Where to reach a user",
            id=_INT,
            username=_STRING,
            full_name=_STRING,
            email=_nullable("string"),
            phone=_nullable("string"),
        ),
        "TemporaryPassword": obj(
            "A temporary password, shown once; the account must change it",
            id=_INT,
            temporary_password=_STRING,
            sessions_ended=_INT,
        ),
        "SessionsEnded": obj("How many sessions ended", id=_INT, sessions_ended=_INT),
        "Unlocked": obj("The account's lockout is lifted", id=_INT, unlocked={"type": "boolean", "const": True}),
        "OtpReset": obj(
            "2FA is off and the account's sessions ended",
            id=_INT,
            totp_enabled={"type": "boolean", "const": False},
            sessions_ended=_INT,
        ),
        "OtpState": obj("Whether 2FA is on", totp_enabled=_BOOL),
        "OtpSecret": obj(
            "A new TOTP secret; confirm it with a code to turn 2FA on",
            secret={"type": "string", "description": "base32"},
            otpauth_uri=_STRING,
        ),
        "PasswordIsSet": obj("The account can sign in with the new password", id=_INT, username=_STRING),
        "KeyRotated": obj("The new signing key's id", kid=_STRING),
        "JsonWebKeySet": {
            "type": "object",
            "description": "The public keys that verify access tokens (RFC 7517)",
            "required": ["keys"],
            "properties": {"keys": {"type": "array", "items": {"type": "object", "required": ["kty", "kid"]}}},
        },
        "SettingsAnswer": _settings_answer(),
        **_settings_sections(),
        "SettingsPatch": {
            "type": "object",
            "description": 'A JSON merge patch (RFC 7396) of the settings: `{"course": {"max_credits": 30}}`; '
            "null resets a value to its default",
            "properties": {
                name: {"type": ["object", "null"], "description": f"changes to `{name}`"}
                for name in Settings.model_fields
            },
            "additionalProperties": False,
        },
        "SettingsChange": obj(
            "One change of the settings",
            version=_INT,
            at=INSTANT,
            by=_STRING,
            changes={"type": "object", "description": "the merge patch applied"},
        ),
        "SettingsChangePage": page("SettingsChange", "Settings changes, newest first"),
        # a student's plan (issue 16: `services.common.plan_contract`)
        "Plan": obj(
            "A student's saved plan, in order of preference (empty items when none is saved)",
            items={
                "type": "array",
                "items": obj(
                    "A plan item: a course and its alternatives, in order",
                    position={"type": "integer", "minimum": 1},
                    course_id=_INT,
                    alternatives={"type": "array", "items": _INT},
                    section_id={"type": "null", "description": "reserved for sections"},
                ),
            },
            updated_at=INSTANT_OR_NULL,
        ),
        "SavedPlans": obj(
            "Students' saved plans, read at once for the queue to admit them (empty items: none saved)",
            plans={
                "type": "array",
                "items": obj(
                    "One student's saved plan",
                    student_id=_INT,
                    items={
                        "type": "array",
                        "items": obj(
                            "A plan item: a course and its alternatives, in order",
                            course_id=_INT,
                            alternatives={"type": "array", "items": _INT},
                        ),
                    },
                ),
            },
        ),
        "PlanVerdict": obj(
            "What the ledger's rules would decide now for one course of a plan",
            course_id=_INT,
            outcome=_PLAN_OUTCOME,
            type={"type": "string", "description": "the refusing rule's problem type; empty if none"},
            reason=_STRING,
        ),
        "PlanCheck": obj(
            "Each item of the plan as the ledger's rules would decide it now, in order; nothing changed",
            items={
                "type": "array",
                "items": obj(
                    "An item: its own course's verdict, each alternative's, and the course it would take",
                    position={"type": "integer", "minimum": 1},
                    course_id=_INT,
                    outcome=_PLAN_OUTCOME,
                    type=_STRING,
                    reason=_STRING,
                    alternatives={"type": "array", "items": ref("PlanVerdict")},
                    chosen_course_id={"type": ["integer", "null"], "description": "null: every course refused"},
                ),
            },
            window=obj(
                "The registration window rule for the whole plan (the items are judged with it set aside)",
                open=_BOOL,
                type=_STRING,
                reason=_STRING,
            ),
            checked_at=INSTANT,
        ),
        "PlanSubmission": obj(
            "The plan queued: one request per item, in the plan's order",
            requests={
                "type": "array",
                "items": obj(
                    "An item's request (an alternative's when its own course was full; null: refused at once)",
                    position={"type": "integer", "minimum": 1},
                    course_id=_INT,
                    queue_request_id=_nullable("string"),
                    status={"type": "string", "enum": ["pending", "accepted", "waitlisted", "rejected", "cancelled"]},
                    type=_STRING,
                    reason=_STRING,
                ),
            },
            new={"type": "boolean", "description": "false: this Idempotency-Key had submitted the plan before"},
            links=obj("Where to follow it", self=_STRING, requests=_STRING),
        ),
        # the queue's own routes (its requests and decisions: the rush contract, issue 13)
        "Opening": obj(
            "When registration opens for you (nulls: no window is known)",
            open=_BOOL,
            opens_at=INSTANT_OR_NULL,
            closes_at=INSTANT_OR_NULL,
            drop_deadline=INSTANT_OR_NULL,
            seconds_to_open=_nullable("number"),
        ),
        "QueueStats": obj(
            "The queue's figures, from its master",
            open_fields=True,
            admitted=_INT,
            decided=_INT,
            depth=_INT,
            pending_entries=_INT,
            lag_seconds=_NUMBER,
            decided_last_minute=_INT,
            p50_to_outcome_seconds=_nullable("number"),
            p99_to_outcome_seconds=_nullable("number"),
            streams={"type": "object", "additionalProperties": {"type": "object"}},
            consumer={"type": "object", "required": ["role"]},
        ),
    }
