"""Every enrollment rule, in one place, as pure functions of the facts they need.

The ledger loads the facts inside its write transaction and applies the decision in
that same transaction, so what was checked is what is written. Each rejection has a
stable type (the problem type clients see) and a human reason.

A student's limits are per term: the credit load, the course count and time conflicts
count only the enrolled courses of the same term as the course asked for, and the window
rule uses that term's windows (and its drop deadline, when it has one).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Literal

from cluster.settings import CourseSettings
from services.common.enrollment_contract import Outcome
from services.common.registration import DROP_CLOSED, RegistrationWindow, Standing, WindowRefusal, window_refusal

# What a registrar may name to skip one rule for one desk action (services/course_data/desk.py):
# each skips exactly the rule of its name and nothing else. `capacity` enrolls past the seats
# (never onto the waitlist); `credit-load` skips both load limits (credits and course count);
# `window` the registration window; `drop-deadline` the drop deadline; `corequisites`,
# `restrictions` (program, year, cohort) and `consent` (instructor consent) their rules.
# Holds are never skipped.
Override = Literal[
    "capacity",
    "prerequisites",
    "time-conflict",
    "credit-load",
    "window",
    "drop-deadline",
    "corequisites",
    "restrictions",
    "consent",
]
OVERRIDES: tuple[Override, ...] = typing.get_args(Override)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Meeting:
    weekday: int
    start: int  # minutes after midnight
    end: int

    def overlaps(self, other: Meeting) -> bool:
        return self.weekday == other.weekday and self.start < other.end and other.start < self.end

    def __str__(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {clock_text(self.start)}-{clock_text(self.end)}"


def clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class CourseFacts:
    id: int
    code: str
    credits: int
    capacity: int
    taken: int
    meetings: tuple[Meeting, ...] = ()
    prerequisites: frozenset[str] = frozenset()
    waitlist_length: int = 0
    term_id: int | None = None  # (None only in facts made without a database: one term)
    drop_deadline: float | None = None  # the term's (None: the windows' alone)
    corequisites: frozenset[str] = frozenset()  # codes taken the same term: enrolled, or completed
    # Who may take it: kind ("program", "year", "cohort") -> the values allowed (none: anyone).
    restrictions: tuple[tuple[str, frozenset[str]], ...] = ()
    consent_required: bool = False  # instructor consent: a `consent` permit from the teacher
    teacher_name: str = ""


@dataclass(frozen=True)
class Permit:
    capacity: bool = False
    prerequisites: bool = False
    consent: bool = False  # the teacher consents (instructor-consent courses)


@dataclass(frozen=True)
class StudentFacts:
    id: int
    enrolled: tuple[CourseFacts, ...] = ()
    waitlisted: frozenset[int] = frozenset()  # course ids
    completed: frozenset[str] = frozenset()  # course codes
    holds: tuple[str, ...] = ()  # reasons
    windows: tuple[RegistrationWindow, ...] = ()  # those that apply to the student (`applicable`), in every term
    standing: Standing = field(default_factory=Standing)  # cohort, program, year, priority group

    def enrolled_in_term(self, term_id: int | None) -> tuple[CourseFacts, ...]:
        """The enrolled courses of one term: the ones a course of that term is weighed against."""
        return tuple(c for c in self.enrolled if c.term_id == term_id)


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    type: str = ""  # stable rejection type, e.g. "time-conflict"
    reason: str = ""
    via_permit: bool = False
    details: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome != "rejected"


def reject(kind: str, reason: str, **details: object) -> Decision:
    return Decision("rejected", kind, reason, details=details)


def refused(refusal: WindowRefusal | None) -> Decision | None:
    if refusal is None:
        return None
    if refusal.opens_at is not None:
        return reject(refusal.type, refusal.reason, opens_at=refusal.opens_at_text)
    return reject(refusal.type, refusal.reason)


RESTRICTION_KINDS = ("program", "year", "cohort")


def _standing_value(standing: Standing, kind: str) -> str | None:
    value = getattr(standing, kind)
    return None if value is None else str(value)


def restriction_refusal(student: StudentFacts, course: CourseFacts) -> Decision | None:
    """The first restriction (program, year, cohort) of `course` the student does not meet."""
    for kind, allowed in course.restrictions:
        mine = _standing_value(student.standing, kind)
        if allowed and mine not in allowed:
            listed = ", ".join(sorted(allowed))
            return reject(
                "restricted",
                f"{course.code} is open to {kind} {listed} only (yours: {mine or 'none recorded'}); "
                "a registrar may enroll you past it",
                restriction=kind,
                allowed=sorted(allowed),
            )
    return None


def consent_refusal(course: CourseFacts, permit: Permit) -> Decision | None:
    if not course.consent_required or permit.consent:
        return None
    teacher = f" ({course.teacher_name})" if course.teacher_name else ""
    return reject(
        "consent-required",
        f"{course.code} needs its instructor's consent: ask the teacher{teacher} for a consent permit",
        permit="consent",
    )


def corequisite_refusal(student: StudentFacts, course: CourseFacts, keeping: list[CourseFacts]) -> Decision | None:
    """Corequisites are taken the same term: each is a course the student is enrolled in (and
    keeps, in a swap) or has completed."""
    missing = course.corequisites - student.completed - {c.code for c in keeping}
    if not missing:
        return None
    codes = sorted(missing)
    return reject(
        "corequisites-missing",
        f"{course.code} must be taken with {', '.join(codes)}: enroll in {' and '.join(codes)} first",
        corequisites=codes,
    )


# The desk's override that skips each of the window rule's refusals.
_SKIPPED_BY: dict[str, Override] = {"window-closed": "window", "drop-deadline": "drop-deadline"}


def window_decision(
    student: StudentFacts,
    action: str,
    now: float,
    enrolled: bool | None = None,
    overrides: frozenset[str] = frozenset(),
    term_id: int | None = None,
) -> Decision | None:
    """The window rule's refusal (the one admission applies too) for a course of `term_id`
    (None: not known): checked before any other rule, so the queue, which knows only the
    windows, answers as the ledger would; a registrar's `window` / `drop-deadline` override
    skips its refusal."""
    refusal = window_refusal(student.windows, action, now, enrolled, term_id)
    if refusal is not None and _SKIPPED_BY.get(refusal.type) in overrides:
        return None
    return refused(refusal)


def eligibility(
    student: StudentFacts,
    course: CourseFacts,
    permit: Permit,
    rules: CourseSettings,
    now: float,
    dropping: frozenset[int] = frozenset(),
    check_window: bool = True,
    overrides: frozenset[str] = frozenset(),
) -> Decision | None:
    """Why `student` may not take `course` (None: they may, seats aside).

    `dropping`: courses the same request gives up (a swap), left out of the limits.
    `overrides`: rules a registrar named to skip (`Override`).
    """
    if check_window and (closed := window_decision(student, "enroll", now, None, overrides, course.term_id)):
        return closed
    if student.holds:
        return reject("hold", f"a hold blocks your registration: {student.holds[0]}")
    if any(c.id == course.id for c in student.enrolled):
        return reject("already-enrolled", f"you are already enrolled in {course.code}")
    if "restrictions" not in overrides and (restricted := restriction_refusal(student, course)) is not None:
        return restricted
    if "consent" not in overrides and (no_consent := consent_refusal(course, permit)) is not None:
        return no_consent
    missing = course.prerequisites - student.completed
    if rules.prerequisite_checking and missing and not permit.prerequisites and "prerequisites" not in overrides:
        return reject(
            "prerequisites-missing",
            f"{course.code} requires {', '.join(sorted(missing))}",
            missing=sorted(missing),
        )
    keeping = [c for c in student.enrolled_in_term(course.term_id) if c.id not in dropping]
    if "corequisites" not in overrides and (alone := corequisite_refusal(student, course, keeping)) is not None:
        return alone
    load = "credit-load" not in overrides
    if load and len(keeping) + 1 > rules.max_courses:
        return reject("too-many-courses", f"at most {rules.max_courses} courses")
    credits = sum(c.credits for c in keeping) + course.credits
    if load and credits > rules.max_credits:
        return reject("credit-limit", f"{credits} credits would exceed the limit of {rules.max_credits}")
    if rules.conflict_checking and "time-conflict" not in overrides:
        clashes = sorted({c.code for c in keeping for m in c.meetings for n in course.meetings if m.overlaps(n)})
        if clashes:
            return reject(
                "time-conflict", f"{course.code} meets at the same time as {', '.join(clashes)}", conflicts=clashes
            )
    return None


def decide_enroll(
    student: StudentFacts,
    course: CourseFacts,
    permit: Permit,
    rules: CourseSettings,
    now: float,
    dropping: frozenset[int] = frozenset(),
    overrides: frozenset[str] = frozenset(),
) -> Decision:
    refused = eligibility(student, course, permit, rules, now, dropping, overrides=overrides)
    if refused is not None:
        return refused
    if course.taken < course.capacity:
        return Decision("accepted")
    if permit.capacity or "capacity" in overrides:
        return Decision("accepted", via_permit=True)
    if course.id in student.waitlisted:
        return reject("already-waitlisted", f"you are already on the waitlist of {course.code}")
    waitlisted = Decision(
        "waitlisted",
        reason=f"{course.code} is full: you are on its waitlist",
        details={"waitlist_position": course.waitlist_length + 1},
    )
    return full_refusal(course, rules) or waitlisted


def full_refusal(course: CourseFacts, rules: CourseSettings) -> Decision | None:
    """The refusal any student without a capacity permit gets from this course now: no seat,
    and no place on its waitlist (None while a seat or a waitlist place is left)."""
    if course.taken < course.capacity:
        return None
    if not rules.waitlist_enabled:
        return reject("course-full", f"{course.code} is full")
    if course.waitlist_length >= rules.waitlist_max_length:
        return reject("waitlist-full", f"{course.code} is full and so is its waitlist")
    return None


def decide_drop(student: StudentFacts, course_id: int, now: float, overrides: frozenset[str] = frozenset()) -> Decision:
    held = next((c for c in student.enrolled if c.id == course_id), None)
    if held is None and course_id not in student.waitlisted:
        return reject("not-enrolled", "you are neither enrolled in this course nor on its waitlist")
    if held is None:
        return window_decision(student, "drop", now, False, overrides) or Decision("accepted")
    past = held.drop_deadline is not None and now > held.drop_deadline and "drop-deadline" not in overrides
    if past:
        return reject(DROP_CLOSED.type, "the term's drop deadline has passed")
    return window_decision(student, "drop", now, True, overrides, held.term_id) or Decision("accepted")
