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
from collections.abc import Mapping, Sequence
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
    section: str = ""  # its name in its offering ("" for a course with a single section)
    kind: str = "lecture"  # lecture, lab, tutorial, seminar...
    linked_to: int | None = None  # the section it is taken only with (a lab of one lecture)
    # Every section of its offering, as (id, section, kind); empty when not loaded (held courses).
    offering_sections: tuple[tuple[int, str, str], ...] = ()

    @property
    def offering(self) -> tuple[int | None, str]:
        """The offering it is a section of: every course of its term with its code."""
        return (self.term_id, self.code)

    @property
    def label(self) -> str:
        """Its code, with its section when it has one ("CS101 L01")."""
        return f"{self.code} {self.section}" if self.section else self.code


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
    together: tuple[CourseFacts, ...] = (),
) -> Decision | None:
    """Why `student` may not take `course` (None: they may, seats aside).

    `dropping`: courses the same request gives up (a swap), left out of the limits.
    `overrides`: rules a registrar named to skip (`Override`).
    `together`: the other sections the same request takes (a section group), counted as held.
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
    kept = [c for c in student.enrolled_in_term(course.term_id) if c.id not in dropping]
    keeping = [*kept, *(c for c in together if c.id != course.id)]
    if (sectioned := section_refusal(course, keeping)) is not None:
        return sectioned
    if "corequisites" not in overrides and (alone := corequisite_refusal(student, course, keeping)) is not None:
        return alone
    load = "credit-load" not in overrides
    offerings = _offering_credits([*keeping, course])
    if load and len(offerings) > rules.max_courses:
        return reject("too-many-courses", f"at most {rules.max_courses} courses")
    credits = sum(offerings.values())
    if load and credits > rules.max_credits:
        return reject("credit-limit", f"{credits} credits would exceed the limit of {rules.max_credits}")
    if rules.conflict_checking and "time-conflict" not in overrides:
        clashes = sorted({c.code for c in keeping for m in c.meetings for n in course.meetings if m.overlaps(n)})
        if clashes:
            return reject(
                "time-conflict", f"{course.code} meets at the same time as {', '.join(clashes)}", conflicts=clashes
            )
    return None


def _offering_credits(held: list[CourseFacts]) -> dict[tuple[int | None, str], int]:
    """Offering -> its credits: an offering counts once in the load, whatever its sections
    (the most any of its sections held carries, so a section without credits adds none)."""
    credits: dict[tuple[int | None, str], int] = {}
    for c in held:
        credits[c.offering] = max(credits.get(c.offering, 0), c.credits)
    return credits


def section_refusal(course: CourseFacts, keeping: list[CourseFacts]) -> Decision | None:
    """Why `course` cannot be held with `keeping` (the student's other sections after the
    request): one section of each kind of an offering, no two of one kind, and a linked
    section only with the section it is linked to. None: the sections fit."""
    mine = [c for c in keeping if c.offering == course.offering]
    same_kind = next((c for c in mine if c.kind == course.kind), None)
    if same_kind is not None:
        return reject(
            "section-kind-held",
            f"you hold {course.kind} section {same_kind.label} already: swap it for {course.label} instead",
            section_id=same_kind.id,
        )
    held = {c.id for c in mine} | {course.id}
    names = {sid: name for sid, name, _ in course.offering_sections}
    for c in (*mine, course):
        if c.linked_to is not None and c.linked_to not in held and c.linked_to in names:
            return reject(
                "section-not-linked",
                f"{c.label} is taken only with section {names[c.linked_to]} of {c.code}: take them together",
                linked_to=c.linked_to,
            )
    kinds = {c.kind for c in mine} | {course.kind}
    missing = sorted({kind for _, _, kind in course.offering_sections} - kinds)
    if missing:
        return reject(
            "section-required",
            f"{course.code} requires a {' and a '.join(missing)} section: enroll in one section of each kind"
            " together (section_ids)",
            missing_kinds=missing,
        )
    return None


def part_left_refusal(
    student: StudentFacts, dropping: frozenset[int], adding: tuple[CourseFacts, ...]
) -> Decision | None:
    """A swap that gives up a section must not leave the rest of its offering held without it:
    it takes another section of that offering (the section rule then checks the kinds), or
    gives up every section of it (as a drop does). None: nothing is left in part."""
    taken = {c.offering for c in adding}
    for given in (c for c in student.enrolled if c.id in dropping):
        rest = [c for c in student.enrolled if c.offering == given.offering and c.id not in dropping]
        if rest and given.offering not in taken:
            return reject(
                "section-required",
                f"giving up {given.label} would leave {', '.join(c.label for c in rest)} without a {given.kind}"
                f" section: swap it for another {given.kind} section of {given.code}, or drop {given.code}",
                missing_kinds=[given.kind],
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
    # One section of a kind waited for at a time, as one group of an offering: holding one, the
    # student could never be served from the other waitlist, and the row would keep a place.
    same_kind = {sid for sid, _, kind in course.offering_sections if kind == course.kind} - {course.id}
    if waiting := sorted(same_kind & student.waitlisted):
        return reject(
            "already-waitlisted",
            f"you are already on the waitlist of another {course.kind} section of {course.code}:"
            " leave it first to wait for this one",
            section_id=waiting[0],
        )
    waitlisted = Decision(
        "waitlisted",
        reason=f"{course.code} is full: you are on its waitlist",
        details={"waitlist_position": course.waitlist_length + 1},
    )
    return full_refusal(course, rules) or waitlisted


@dataclass(frozen=True)
class GroupDecision:
    """The decision on a section group (one section of each kind of an offering, taken
    together): `decision` is the group's outcome; when accepted, `seats` says for each
    section whether its seat is taken through a capacity permit (section id -> via_permit);
    when waitlisted, `waiting` names the full sections whose waitlists the student joins."""

    decision: Decision
    seats: dict[int, bool] = field(default_factory=dict)
    waiting: tuple[int, ...] = ()


def group_refusal(
    student: StudentFacts,
    section_ids: Sequence[int],
    found: Mapping[int, CourseFacts],
    action: str,
    now: float,
    overrides: frozenset[str] = frozenset(),
) -> Decision | None:
    """What refuses a section group before its rules are weighed (None: nothing): the
    registration window of the term of its first named section that exists, then a section
    that does not exist (`found`: the sections' facts by id). One rule for the one-at-a-time
    ledger (`groups.enroll_group`) and the batch's runs (`batch._Group`)."""
    first = next((found[i] for i in section_ids if i in found), None)
    term = first.term_id if first else None
    if (closed := window_decision(student, action, now, None, overrides, term)) is not None:
        return closed
    if unknown := [i for i in section_ids if i not in found]:
        return reject("no-such-course", f"there is no course {unknown[0]}")
    return None


def decide_group(
    student: StudentFacts,
    group: tuple[CourseFacts, ...],
    permits: dict[int, Permit],
    rules: CourseSettings,
    now: float,
    dropping: frozenset[int] = frozenset(),
    overrides: frozenset[str] = frozenset(),
    promoting: bool = False,
) -> GroupDecision:
    """All or nothing: every section of `group` is taken, or none.

    A group whose only obstacle is full sections is waitlisted (as a single course is): the
    student waits on each full section, the rest of the group kept with the request, and is
    enrolled in the whole group at once when every section has a seat (`promoting`: the
    waitlist's head is decided again, the window and restrictions aside as for a single
    course; a full section then answers `section-full` and the head keeps waiting). A swap
    (`dropping`) and a registrar's `capacity` override are never waitlisted; a student waits
    for one group of an offering at a time."""
    if len({c.offering for c in group}) != 1 or len({c.id for c in group}) != len(group):
        return GroupDecision(reject("invalid-group", "a section group names distinct sections of one course offering"))
    for course in group:
        others = tuple(c for c in group if c.id != course.id)
        permit = permits.get(course.id, Permit())
        refused = eligibility(
            student,
            course,
            permit,
            rules,
            now,
            dropping,
            check_window=not promoting,
            overrides=overrides | {"restrictions"} if promoting else overrides,
            together=others,
        )
        if refused is not None:
            return GroupDecision(refused)
    seats: dict[int, bool] = {}
    full: list[CourseFacts] = []
    for course in group:
        if course.taken < course.capacity:
            seats[course.id] = False
        elif permits.get(course.id, Permit()).capacity or "capacity" in overrides:
            seats[course.id] = True
        else:
            full.append(course)
    if not full:
        labels = " + ".join(c.label for c in group)
        return GroupDecision(Decision("accepted", reason=f"enrolled in {labels}"), seats)
    decision = _group_full(student, group, full, rules, promoting or bool(dropping))
    return GroupDecision(decision, waiting=tuple(c.id for c in full))


def _group_full(
    student: StudentFacts, group: tuple[CourseFacts, ...], full: list[CourseFacts], rules: CourseSettings, never: bool
) -> Decision:
    """A group with `full` sections: on their waitlists, or refused whole (`never`: a swap or a
    promotion; waitlists off; a waitlist full; already waiting for a group of the offering)."""
    first = full[0]
    refused = reject(
        "section-full",
        f"{first.label} is full: nothing was changed; choose another {first.kind} section",
        section_id=first.id,
    )
    if never or not rules.waitlist_enabled:
        return refused
    offering = {sid for sid, _, _ in first.offering_sections} | {c.id for c in group}
    if waiting := sorted(offering & student.waitlisted):
        return reject(
            "already-waitlisted",
            f"you are already on a waitlist of {first.code}: leave it first to wait for another group",
            section_id=waiting[0],
        )
    for course in full:
        if (no_place := full_refusal(course, rules)) is not None:
            return reject(no_place.type, f"{course.label} is full and so is its waitlist", section_id=course.id)
    labels = ", ".join(c.label for c in full)
    places = [{"section_id": c.id, "position": c.waitlist_length + 1} for c in full]
    return Decision(
        "waitlisted",
        reason=f"{labels} full: you are on the waitlist, and will be enrolled in the whole group at once",
        details={"waitlist_position": places[0]["position"], "waitlist_positions": places},
    )


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
