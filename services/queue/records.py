"""The queue's records as Python sees them: what admission sends, what the scripts answer,
and a stream entry as the decider reads it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from services.common.enrollment_contract import ledger_request_of


@dataclass(slots=True)
class Admission:
    """A request to admit; its fields are the contract's `ADMISSION_FIELDS`, in that order."""

    queue_request_id: str
    student_id: int
    cohort: int | None
    action: str
    course_id: int
    drop_course_id: int | None
    actor: str
    priority: int
    idempotency_key: str
    refusal: str = ""  # JSON {type, reason}: admission refuses it (recorded under the key), e.g. its window closed
    program: str | None = None  # the student's standing past the cohort (`registration.Standing`)
    year: int | None = None
    priority_group: str | None = None
    section_ids: str = ""  # a section group: its sections, comma-separated (course_id is the first)
    drop_course_ids: str = ""  # a swap into a section group: the sections it gives up, comma-separated


def _csv(course_ids: list[int]) -> str:
    return ",".join(str(c) for c in course_ids)


@dataclass(slots=True)
class PlanAdmission:
    """A plan to admit whole (`scripts.ADMIT_PLAN`): one enrollment per item, in order, each
    with its courses in order of preference (its own, then its alternatives)."""

    student_id: int
    cohort: int | None
    actor: str
    priority: int
    idempotency_key: str
    items: list[tuple[str, list[int]]]  # (queue request id, [course, *alternatives])
    refusal: str = ""  # JSON {type, reason}: admission refuses the whole plan (its window closed)
    program: str | None = None  # the student's standing past the cohort (`registration.Standing`)
    year: int | None = None
    priority_group: str | None = None

    def script_items(self) -> list[list[str]]:
        """The items as `enrollment_contract.PLAN_ITEM_FIELDS`, strings."""
        cohort = "" if self.cohort is None else str(self.cohort)
        standing = ["" if v is None else str(v) for v in (self.program, self.year, self.priority_group)]
        return [
            [
                rid,
                str(self.student_id),
                cohort,
                "enroll",
                str(c[0]),
                "",
                self.actor,
                str(self.priority),
                *standing,
                _csv(c[1:]),
            ]
            for rid, c in self.items
        ]


@dataclass(slots=True)
class PlanItem:
    """One item of a plan as admitted: the request queued for it (the course it queued, maybe
    an alternative when the item's own was full), or its refusal at once (no request)."""

    position: int
    course_id: int
    queue_request_id: str | None
    status: str
    type: str = ""
    reason: str = ""

    @classmethod
    def of(cls, raw: dict[str, Any]) -> PlanItem:
        status = str(raw["status"])
        return cls(
            int(raw["position"]),
            int(raw["course_id"]),
            str(raw["queue_request_id"]) or None,
            status if status != "deciding" else "pending",
            str(raw["type"]),
            str(raw["reason"]),
        )


@dataclass(slots=True)
class PlanAdmitted:
    new: bool  # False: the idempotency key had admitted this plan before
    items: list[PlanItem]


@dataclass(slots=True)
class Admitted:
    queue_request_id: str
    new: bool  # False: the idempotency key had admitted this request before
    status: str
    position: int


@dataclass(slots=True)
class Refused:
    """An enrollment refused at once: its course was reported full (seats and waitlist)."""

    type: str
    reason: str
    opens_at: float | None = None  # window-closed: when the student's next window opens (Unix time)


@dataclass(slots=True)
class Stalled:
    """Not admitted: the ledger has been unable to decide for too long (retry later)."""

    reason: str


@dataclass(slots=True)
class TooManyOpen:
    """Not admitted: the student has this many requests open (the cap, `queue.max_open_requests`)."""

    open: int


@dataclass(frozen=True)
class Entry:
    """A stream entry: one admitted request, as the decider reads it."""

    stream: str
    entry_id: str
    request: dict[str, Any]  # ENTRY_FIELDS (all strings)

    @property
    def request_id(self) -> str:
        return str(self.request["queue_request_id"])

    @classmethod
    def of(cls, stream: str, entry_id: str, fields: dict[bytes, bytes]) -> Entry:
        return cls(stream, entry_id, json.loads(fields[b"r"]))

    def for_ledger(self) -> dict[str, Any]:
        return ledger_request_of(self.request)


def plan_reply(r: list[Any]) -> PlanAdmitted | Refused | Stalled | TooManyOpen:
    """The plan script's answer as an object."""
    kind, text = int(r[0]), r[1].decode() if isinstance(r[1], bytes) else str(r[1])
    if kind == 2:
        refusal = json.loads(text)
        return Refused(str(refusal["type"]), str(refusal["reason"]))
    if kind == 3:
        return Stalled(text)
    if kind == 4:
        return TooManyOpen(int(text))
    items = json.loads(text)
    return PlanAdmitted(kind == 1, [PlanItem.of(i) for i in items] if isinstance(items, list) else [])


class Replies:
    """The admit script's answers as objects; a course's refusal (the same few bytes for every
    student refused from it) is parsed once."""

    def __init__(self) -> None:
        self._refusals: dict[bytes, Refused] = {}

    def of(self, r: list[Any]) -> Admitted | Refused | Stalled | TooManyOpen:
        if int(r[0]) == 3:
            return Stalled(r[2].decode())
        if int(r[0]) == 4:
            return TooManyOpen(int(r[2]))
        if int(r[0]) != 2:
            return Admitted(r[1].decode(), bool(r[0]), r[2].decode(), int(r[3]))
        refused = self._refusals.get(r[2])
        if refused is None:
            if len(self._refusals) > 10_000:
                self._refusals.clear()
            refusal = json.loads(r[2])
            refused = self._refusals[r[2]] = Refused(
                str(refusal["type"]), str(refusal["reason"]), refusal.get("opens_at")
            )
        return refused
