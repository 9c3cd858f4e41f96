"""The enrollment contracts, one definition each: every side imports them from here.

One enrollment change travels from the client (`POST /queue/requests`, or the student
service) through the queue's Redis (a stream entry, then a record) to the ledger (a
request, alone or in a batch) and back (a decision, the batch's answer), then out to the
client (the queue's view of the request, the student service's answer). Each of those
shapes is defined here, with the same field names all the way: `course_id`,
`drop_course_id`, `student_id`, `admitted_at`; the queue's id of a request is
`queue_request_id` (a problem's `request_id` is the HTTP request's id, another thing).

The models are the validation of what the ledger reads and the OpenAPI schemas of what
the queue and the student service answer; the hot paths build plain dicts with these
names (`decision_fields`, `queued_view`), and the tests check them against the models.
The queue's Lua scripts take the record's field names from `RECORD_FIELDS`
(`services.queue.scripts` templates them in).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from cluster.settings import Action
from services.common.instants import Instant, InstantText
from services.common.registration import Standing

Outcome = Literal["accepted", "waitlisted", "rejected"]
Status = Literal["pending", "accepted", "waitlisted", "rejected", "cancelled"]
ACTIONS: tuple[Action, ...] = ("enroll", "drop", "swap")
FINAL: tuple[str, ...] = ("accepted", "waitlisted", "rejected", "cancelled")
QUEUE_ID_PATTERN = r"^[A-Za-z0-9_-]+$"


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")


# What a client asks


SectionIds = list[Annotated[int, Field(ge=1)]]
GROUP_MAX = 8  # the most sections a group takes (or gives up) at once
_ID = {"type": "integer", "minimum": 1}
_IDS = {"type": "array", "items": _ID, "minItems": 1, "maxItems": GROUP_MAX, "uniqueItems": True}
_ABSENT = {"type": "null"}


def _change_schema(schema: dict[str, Any]) -> None:
    """The change's shape as JSON Schema (what `admission.parse_body` accepts, no more): one course
    (`course_id`; a swap also `drop_course_id`), or a section group (`section_ids`; a swap
    also `drop_course_ids`), never both."""
    single_swap = {"required": ["course_id", "drop_course_id"], "properties": {"drop_course_id": _ID}}
    single_other = {"required": ["course_id"], "properties": {"drop_course_id": _ABSENT}}
    group_swap = {"required": ["section_ids", "drop_course_ids"], "properties": {"drop_course_ids": _IDS}}
    group_enroll = {
        "required": ["section_ids"],
        "properties": {"action": {"const": "enroll"}, "drop_course_ids": _ABSENT},
    }
    is_swap = {"properties": {"action": {"const": "swap"}}}
    schema["if"] = {"properties": {"section_ids": {"not": _ABSENT}}, "required": ["section_ids"]}
    schema["then"] = {
        "properties": {"course_id": _ABSENT, "drop_course_id": _ABSENT, "section_ids": _IDS},
        "if": is_swap,
        "then": group_swap,
        "else": group_enroll,
    }
    schema["else"] = {
        "properties": {"course_id": _ID, "section_ids": _ABSENT, "drop_course_ids": _ABSENT},
        "if": is_swap,
        "then": single_swap,
        "else": single_other,
    }


class EnrollmentChange(_Contract):
    """A student's change, as `POST /queue/requests` takes it (the admission's fast parser,
    `services.queue.admission.parse_body`, accepts exactly this): one course (a swap names
    the course it gives up, nothing else does), or a section group (`section_ids`: one
    section of each kind of an offering, taken together or not at all; a swap into it names
    the sections it gives up, `drop_course_ids`)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_change_schema)

    action: Action
    course_id: int | None = Field(
        default=None, ge=1, description="the course to enroll in or drop; for a swap, the one to add"
    )
    drop_course_id: int | None = Field(
        default=None, ge=1, description="swap only (and required there): the course to give up"
    )
    section_ids: SectionIds | None = Field(
        default=None,
        min_length=1,
        max_length=GROUP_MAX,
        description="instead of course_id: a section group (enroll or swap), each section once",
    )
    drop_course_ids: SectionIds | None = Field(
        default=None,
        min_length=1,
        max_length=GROUP_MAX,
        description="a swap into a section group only (and required there): the sections to give up",
    )

    @model_validator(mode="after")
    def _one_shape(self) -> EnrollmentChange:
        swap = self.action == "swap"
        if self.section_ids is None:
            if self.course_id is None:
                raise ValueError("course_id (or section_ids) is required")
            if self.drop_course_ids is not None:
                raise ValueError("drop_course_ids: only for a swap into a section group")
            if swap != (self.drop_course_id is not None):
                raise ValueError("drop_course_id: a swap needs it, and only a swap")
            return self
        if self.course_id is not None or self.drop_course_id is not None:
            raise ValueError("section_ids: instead of course_id and drop_course_id, not with them")
        if self.action == "drop":
            raise ValueError("section_ids: enroll or swap only (drop each section by its id)")
        if swap != (self.drop_course_ids is not None):
            raise ValueError("drop_course_ids: a swap into a section group needs it, and only such a swap")
        for name, ids in (("section_ids", self.section_ids), ("drop_course_ids", self.drop_course_ids or [])):
            if len(set(ids)) != len(ids):
                raise ValueError(f"{name}: each section once")
        return self


class StudentChange(EnrollmentChange):
    """A change made for a student by another service (`POST /internal/queue/requests`): the
    student service sends its student's changes into the rush this way."""

    student_id: int = Field(ge=1)
    cohort: int | None = None
    program: str | None = Field(default=None, max_length=32)
    year: int | None = Field(default=None, ge=1, le=20)
    priority_group: str | None = Field(default=None, max_length=32)
    actor: str = Field(default="", max_length=64)
    idempotency_key: str = Field(min_length=1, max_length=128)


# What the ledger reads


class LedgerRequest(_Contract):
    """An enrollment change, as the student (or queue) service sends it to the ledger."""

    action: Action
    student_id: int = Field(ge=1)
    cohort: int | None = None
    program: str | None = Field(default=None, max_length=32, description="the student's program (restrictions)")
    year: int | None = Field(default=None, ge=1, le=20, description="the student's year of study (restrictions)")
    priority_group: str | None = Field(default=None, max_length=32, description="the student's priority group")
    course_id: int = Field(ge=1, description="the course to enroll in or drop; for a swap, the one to add")
    drop_course_id: int | None = Field(default=None, ge=1, description="swap only: the course to give up")
    actor: str = Field(max_length=64)

    @property
    def standing(self) -> Standing:
        return Standing(self.cohort, self.program, self.year, self.priority_group)


class LedgerGroupRequest(_Contract):
    """A section group (one section of each kind of an offering) taken together, all or
    nothing; with `drop_course_ids`, a swap into it that gives those up only if it is taken.
    The student service sends it to the ledger directly when the queue is off; in a rush it is
    queued like a single course (`QueuedRequest.section_ids`) and the batch decides it alike."""

    student_id: int = Field(ge=1)
    cohort: int | None = None
    program: str | None = Field(default=None, max_length=32)
    year: int | None = Field(default=None, ge=1, le=20)
    priority_group: str | None = Field(default=None, max_length=32)
    section_ids: list[int] = Field(min_length=1, max_length=8, description="the sections to take together")
    drop_course_ids: list[int] = Field(default_factory=list, max_length=8, description="a swap: the ones to give up")
    actor: str = Field(max_length=64)

    @property
    def standing(self) -> Standing:
        return Standing(self.cohort, self.program, self.year, self.priority_group)


class QueuedRequest(LedgerRequest):
    """A request the queue admitted, as its master sends it to the ledger."""

    queue_request_id: str = Field(
        min_length=8,
        max_length=40,
        pattern=QUEUE_ID_PATTERN,
        validation_alias=AliasChoices("queue_request_id", "request_id"),  # (the name before: still accepted)
    )
    admitted_at: Instant = Field(description="when the queue admitted it")
    section_ids: SectionIds | None = Field(
        default=None,
        min_length=1,
        max_length=GROUP_MAX,
        description="a section group, decided as `POST /internal/ledger/group` decides it (course_id: its first)",
    )
    drop_course_ids: SectionIds | None = Field(
        default=None, max_length=GROUP_MAX, description="a swap into the section group: the sections to give up"
    )


class LedgerBatch(_Contract):
    timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        description="if given, a request not decided this long after admission is rejected; the queue sends "
        "none (a stall delays its decisions in order, it never times them out)",
    )
    requests: list[QueuedRequest] = Field(min_length=1, max_length=10_000)


# What the ledger answers


class Refusal(_Contract):
    type: str = Field(description="the rule's problem type, e.g. waitlist-full")
    reason: str


class WaitlistPlace(_Contract):
    section_id: int
    position: int = Field(ge=1)


class DecisionDetails(_Contract):
    """What some decisions add (none is always there)."""

    conflicts: list[str] | None = Field(default=None, description="time-conflict: the courses it clashes with")
    missing: list[str] | None = Field(default=None, description="prerequisites-missing: the codes missing")
    waitlist_position: int | None = Field(default=None, ge=1, description="waitlisted: the place on the waitlist")
    waitlist_positions: list[WaitlistPlace] | None = Field(
        default=None, description="a section group waitlisted: the place on each full section's waitlist"
    )
    opens_at: InstantText | None = Field(default=None, description="window-closed: when the student's window opens")
    corequisites: list[str] | None = Field(
        default=None, description="corequisites-missing: the codes to enroll in first (or to have completed)"
    )
    restriction: str | None = Field(default=None, description="restricted: the kind unmet (program, year, cohort)")
    allowed: list[str] | None = Field(default=None, description="restricted: the values it allows")
    permit: str | None = Field(default=None, description="consent-required: the permit to ask the teacher for")
    missing_kinds: list[str] | None = Field(
        default=None, description="section-required: the kinds of section to take with it (lab, tutorial...)"
    )
    section_id: int | None = Field(
        default=None, description="section-kind-held: the section of that kind held; section-full: the full one"
    )
    linked_to: int | None = Field(default=None, description="section-not-linked: the section to take it with")


DETAIL_FIELDS: tuple[str, ...] = tuple(DecisionDetails.model_fields)


class LedgerDecision(DecisionDetails):
    """The ledger's decision of one change."""

    outcome: Outcome
    type: str = Field(description="rejected: the rule's problem type (empty otherwise)")
    reason: str
    via_permit: bool = False


class BatchDecision(LedgerDecision):
    queue_request_id: str
    seq: int = Field(description="the order of decision in the ledger")


class BatchAnswer(_Contract):
    decisions: list[BatchDecision] = Field(description="one per request, in order")
    full_courses: dict[str, Refusal] = Field(
        description="course id -> the refusal any student without a capacity permit gets now"
    )
    open_courses: list[int] = Field(description="the other courses the batch touched")


def decision_fields(
    outcome: str, type: str, reason: str, via_permit: bool, details: Mapping[str, object]
) -> dict[str, object]:
    """A decision as the ledger sends it (`LedgerDecision`)."""
    unknown = set(details) - set(DETAIL_FIELDS)
    assert not unknown, f"decision details outside the contract: {unknown}"
    return {"outcome": outcome, "type": type, "reason": reason, "via_permit": via_permit, **details}


def details_of(decision: Mapping[str, Any]) -> dict[str, Any]:
    """The details a decision (or a queued request's view) carries."""
    return {k: decision[k] for k in DETAIL_FIELDS if decision.get(k) is not None}


# The queue's record of a request (a Redis hash: these are its field names)

RECORD_FIELDS: tuple[str, ...] = (
    "student_id",
    "action",
    "course_id",
    "drop_course_id",  # "" when none
    "admitted_at",
    "priority",
    "entry",  # the stream entry's id
    "n",  # the admission's order
    "status",  # pending, deciding, accepted, waitlisted, rejected, cancelled
    "type",  # from here on: once decided
    "reason",
    "seq",
    "decided_at",
    "details",  # JSON: the decision's `DecisionDetails`
    # a plan's item (`services.common.plan_contract`), only where it has alternatives left:
    "alternatives",  # the course ids still to try if the ledger refuses this one, comma-separated
    "cohort",  # (and `actor`, and the standing past the cohort) to queue the next alternative
    "actor",  # as the student's own request
    "program",
    "year",
    "priority_group",
    "alternative",  # which of the item's courses this is (0 its own, 1 its first alternative, ...)
    "next",  # refused: the request queued in its place (the item's next alternative)
    # a section group (only there): its sections, comma-separated (`course_id` is the first),
    "section_ids",
    "drop_course_ids",  # and for a swap into it, the sections it gives up
)
# A plan item, positionally as admission sends it to the plan script: the request's fields,
# then its alternatives (comma-separated course ids, in order).
PLAN_ITEM_FIELDS: tuple[str, ...] = (
    "queue_request_id",
    "student_id",
    "cohort",
    "action",
    "course_id",
    "drop_course_id",
    "actor",
    "priority",
    "program",
    "year",
    "priority_group",
    "alternatives",
)
# A stream entry's request, positionally as admission sends it to the script and by name in
# the entry (JSON); the script adds `admitted_at`.
ADMISSION_FIELDS: tuple[str, ...] = (
    "queue_request_id",
    "student_id",
    "cohort",
    "action",
    "course_id",
    "drop_course_id",
    "actor",
    "priority",
    "idempotency_key",
    "refusal",  # JSON {type, reason, opens_at?} admission refuses it with (its window closed), or ''
    "program",  # the student's standing past the cohort (`registration.Standing`), '' when none
    "year",
    "priority_group",
    "section_ids",  # a section group: its sections, comma-separated ('' for one course; course_id: the first)
    "drop_course_ids",  # a swap into a section group: the sections it gives up, comma-separated, or ''
)
_ADMISSION_ONLY = ("idempotency_key", "refusal")
ENTRY_FIELDS: tuple[str, ...] = (*(f for f in ADMISSION_FIELDS if f not in _ADMISSION_ONLY), "admitted_at")
# The decision's fields the record keeps as its own; the others are its `details`.
RECORDED_DECISION_FIELDS: tuple[str, ...] = ("queue_request_id", "outcome", "type", "reason", "seq", "via_permit")


def ids_of(text: str | None) -> list[int]:
    """Course ids as the queue keeps them (comma-separated; '' or none: no id)."""
    return [int(c) for c in text.split(",")] if text else []


def ledger_request_of(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A stream entry's request (all strings), as the ledger's batch takes it (`QueuedRequest`);
    a section group's ids only where it is one (a ledger from before groups takes the rest)."""
    request = {
        "queue_request_id": entry["queue_request_id"],
        "action": entry["action"],
        "student_id": int(entry["student_id"]),
        "cohort": int(entry["cohort"]) if entry["cohort"] else None,
        "program": entry.get("program") or None,  # (an entry from before them has none)
        "year": int(entry["year"]) if entry.get("year") else None,
        "priority_group": entry.get("priority_group") or None,
        "course_id": int(entry["course_id"]),
        "drop_course_id": int(entry["drop_course_id"]) if entry["drop_course_id"] else None,
        "actor": entry["actor"],
        "admitted_at": float(entry["admitted_at"]),
    }
    if entry.get("section_ids"):
        request["section_ids"] = ids_of(entry["section_ids"])
        request["drop_course_ids"] = ids_of(entry.get("drop_course_ids"))
    return request


# What the queue answers


class Links(_Contract):
    self: str


class QueuedAnswer(_Contract):
    """`202` to `POST /queue/requests`: the request is recorded."""

    queue_request_id: str
    status: Literal["pending", "accepted", "waitlisted", "rejected", "cancelled"]
    position: int = Field(description="requests admitted and not decided yet, this one included, when admitted")
    new: bool = Field(description="false: this Idempotency-Key had admitted this request before")
    links: Links


class QueuedView(DecisionDetails):
    """A queued request as `GET /queue/requests/{id}` shows it."""

    queue_request_id: str | None = Field(description="null: refused at once, nothing was recorded")
    status: Status
    action: Action | None
    course_id: int | None
    drop_course_id: int | None = None
    admitted_at: InstantText | None = None
    type: str | None = Field(default=None, description="once decided: the rule's problem type (rejected)")
    reason: str | None = None
    decided_at: InstantText | None = None
    alternatives: list[int] | None = Field(
        default=None, description="a plan's item: the courses still to try, in order, if this one is refused"
    )
    next_queue_request_id: str | None = Field(
        default=None, description="a plan's item, refused: the request queued in its place (its next alternative)"
    )
    section_ids: list[int] | None = Field(
        default=None, description="a section group: its sections, taken together or not at all (course_id: the first)"
    )
    drop_course_ids: list[int] | None = Field(
        default=None, description="a swap into a section group: the sections it gives up"
    )


def queued_answer(queue_request_id: str, status: str, position: int, new: bool) -> dict[str, Any]:
    return {
        "queue_request_id": queue_request_id,
        "status": status if status != "deciding" else "pending",
        "position": position,
        "new": new,
        "links": {"self": f"/queue/requests/{queue_request_id}"},
    }


def queued_view(queue_request_id: str, record: Mapping[str, str]) -> dict[str, Any]:
    """The record (`RECORD_FIELDS`) as the queue shows it (`QueuedView`)."""
    view: dict[str, Any] = {
        "queue_request_id": queue_request_id,
        "status": record["status"] if record["status"] != "deciding" else "pending",
        "action": record["action"],
        "course_id": int(record["course_id"]),
        "admitted_at": float(record["admitted_at"]),
    }
    if record.get("drop_course_id"):
        view["drop_course_id"] = int(record["drop_course_id"])
    if "decided_at" in record:
        view.update(
            type=record.get("type", ""), reason=record.get("reason", ""), decided_at=float(record["decided_at"])
        )
        view.update(details_of(json.loads(record.get("details", "{}"))))
    if record.get("alternatives"):
        view["alternatives"] = [int(c) for c in record["alternatives"].split(",")]
    if record.get("next"):
        view["next_queue_request_id"] = record["next"]
    if record.get("section_ids"):
        view["section_ids"] = ids_of(record["section_ids"])
        if record.get("drop_course_ids"):
            view["drop_course_ids"] = ids_of(record["drop_course_ids"])
    return view


def refused_view(refusal_type: str, reason: str, change: Mapping[str, Any]) -> dict[str, Any]:
    """A request refused at once, shown as a decided one (it has no id: nothing was recorded)."""
    return {
        "queue_request_id": None,
        "status": "rejected",
        "type": refusal_type,
        "reason": reason,
        "action": change.get("action"),
        "course_id": change.get("course_id") or (change.get("section_ids") or [None])[0],
        **{k: change[k] for k in ("section_ids", "drop_course_ids") if change.get(k)},
    }


# What the student service answers


class QueueRequestPage(_Contract):
    """One page of a student's queue requests, newest first (`GET /queue/requests`); refusals
    at once were never queued and are not listed."""

    items: list[QueuedView]
    page: int
    page_size: int
    total: int


class EnrollmentAnswer(_Contract):
    """The student service's answer to a change it had decided (`201`/`200`, or `202` waitlisted),
    or queued and not decided yet (`202` pending, with `queue_request_id`)."""

    course_id: int
    outcome: Literal["accepted", "waitlisted", "pending"]
    reason: str | None = None
    waitlist_position: int | None = Field(default=None, ge=1, description="waitlisted: the place on the waitlist")
    queue_request_id: str | None = Field(default=None, description="pending: follow GET /queue/requests/{id}")
    section_ids: list[int] | None = Field(default=None, description="a section group: the sections taken together")
    waitlist_positions: list[WaitlistPlace] | None = Field(
        default=None, description="a section group waitlisted: the place on each full section's waitlist"
    )


MODELS: dict[str, type[BaseModel]] = {
    "EnrollmentChange": EnrollmentChange,
    "LedgerRequest": LedgerRequest,
    "LedgerBatch": LedgerBatch,
    "Decision": LedgerDecision,
    "BatchAnswer": BatchAnswer,
    "QueuedAnswer": QueuedAnswer,
    "QueuedView": QueuedView,
    "EnrollmentAnswer": EnrollmentAnswer,
}
