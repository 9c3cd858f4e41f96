"""The registration-window rule: the one rule admission (the queue) and the ledger both apply.

A window has an audience: one student (a time ticket), a priority group (e.g. final-year
students), a cohort, or everyone. A student uses the windows of the most specific audience
they belong to that has any: their own tickets, else their priority group's windows, else
their cohort's, else those for everyone; no window means registration is closed. So a ticket
lets one student in before (or after) the rest of their cohort, and a group's window does
the same for everyone in the group. An enrollment or a swap needs a window open
(`opens_at <= now < closes_at`); dropping a course one is enrolled in needs
`opens_at <= now <= drop_deadline`; leaving a waitlist is allowed at any time.

The queue knows the student (id, cohort and priority group, from the token), the action and
the time, not their enrollments: it applies the rule with `enrolled=None` (a drop is then left
to the ledger, which knows whether it is a seat or a waitlist place), and the ledger checks
the window before any other rule, so both paths give the same answer for the same facts.
A window-closed refusal says when the student's next window opens (`opens_at`), if one does.

Windows are a term's (`term_id`): the audience rule is applied within each term, and a course
is taken under its own term's windows. The queue does not know a course's term: it applies
the rule with `term_id=None`, which counts a window of any term, so admission never refuses
what the ledger would accept (it may queue what the ledger then refuses as closed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.common import instants


@dataclass(frozen=True)
class RegistrationWindow:
    opens_at: float
    closes_at: float
    drop_deadline: float
    cohort: int | None = None  # None: every cohort
    student_id: int | None = None  # a time ticket: this student's own window
    priority_group: str | None = None  # the window of a priority group
    term_id: int | None = None  # None: not known (counts for every term)

    def open_for_enrolling(self, now: float) -> bool:
        return self.opens_at <= now < self.closes_at

    def open_for_dropping(self, now: float) -> bool:
        return self.opens_at <= now <= self.drop_deadline


@dataclass(frozen=True)
class Standing:
    """Who a student is for the registrar's rules, as their token carries it (set in the login
    service: users import or admin edit) and every request to the ledger repeats it: the cohort
    and priority group choose the windows; program, year and cohort meet course restrictions."""

    cohort: int | None = None
    program: str | None = None
    year: int | None = None
    priority_group: str | None = None

    @classmethod
    def of(cls, standing: Standing | int | None) -> Standing:
        """A standing, or a bare cohort (the callers from before the other attributes)."""
        return standing if isinstance(standing, Standing) else cls(cohort=standing)


@dataclass(frozen=True)
class WindowRefusal:
    """A refusal by the window rule: its problem type, the reason a student reads, and (a closed
    window) when the student's next window opens, Unix time (None: no window is coming)."""

    type: str
    reason: str
    opens_at: float | None = None

    @property
    def opens_at_text(self) -> str | None:
        return iso(self.opens_at)


def iso(at: float | None) -> str | None:
    """A Unix time as ISO 8601 with its offset (UTC), as answers carry times."""
    return None if at is None else instants.iso(at)


WINDOW_CLOSED = WindowRefusal("window-closed", "registration is not open for you now")
DROP_CLOSED = WindowRefusal("drop-deadline", "the drop deadline has passed, or dropping has not opened yet")


def applicable(
    windows: Iterable[RegistrationWindow],
    cohort: int | None,
    student_id: int | None = None,
    priority_group: str | None = None,
) -> tuple[RegistrationWindow, ...]:
    """In each term, the windows of the most specific audience the student belongs to that has
    any: their time tickets, else their priority group's, else their cohort's, else everyone's."""
    every = tuple(windows)
    chosen: list[RegistrationWindow] = []
    for term in dict.fromkeys(w.term_id for w in every):
        of_term = tuple(w for w in every if w.term_id == term)
        tickets = tuple(w for w in of_term if student_id is not None and w.student_id == student_id)
        group = tuple(
            w for w in of_term if priority_group and w.student_id is None and w.priority_group == priority_group
        )
        broad = tuple(w for w in of_term if w.student_id is None and w.priority_group is None)
        mine = tuple(w for w in broad if cohort is not None and w.cohort == cohort)
        chosen.extend(tickets or group or mine or tuple(w for w in broad if w.cohort is None))
    return tuple(chosen)


def of_term(windows: Iterable[RegistrationWindow], term_id: int | None) -> tuple[RegistrationWindow, ...]:
    """The windows that count for a course of `term_id` (None: a window of any term counts)."""
    return tuple(w for w in windows if term_id is None or w.term_id in (term_id, None))


def closed(windows: Iterable[RegistrationWindow], now: float) -> WindowRefusal:
    """The window-closed refusal, saying when the student's next window opens (if one does)."""
    coming = min((w.opens_at for w in windows if w.opens_at > now), default=None)
    if coming is None:
        return WindowRefusal(WINDOW_CLOSED.type, "registration is not open for you now, and no window of yours opens")
    return WindowRefusal(WINDOW_CLOSED.type, f"registration opens for you at {iso(coming)}", coming)


def window_refusal(
    windows: Iterable[RegistrationWindow],
    action: str,
    now: float,
    enrolled: bool | None = None,
    term_id: int | None = None,
) -> WindowRefusal | None:
    """Why the window rule refuses `action` now (None: it allows it), given the windows that
    apply to the student. `enrolled`: for a drop, whether the course is one the student is
    enrolled in (False: a waitlist place, left at any time; None: not known, allowed here).
    `term_id`: the course's term (None: not known, a window of any term counts)."""
    windows = of_term(windows, term_id)
    if action == "drop":
        if enrolled and not any(w.open_for_dropping(now) for w in windows):
            return DROP_CLOSED
        return None
    if not any(w.open_for_enrolling(now) for w in windows):
        return closed(windows, now)
    return None
