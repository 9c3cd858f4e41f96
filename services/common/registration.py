"""The registration-window rule: the one rule admission (the queue) and the ledger both apply.

A student uses the windows of their cohort if it has any, else those for every cohort;
no window means registration is closed. An enrollment or a swap needs a window open
(`opens_at <= now < closes_at`); dropping a course one is enrolled in needs
`opens_at <= now <= drop_deadline`; leaving a waitlist is allowed at any time.

The queue knows the student's cohort, the action and the time, not their enrollments:
it applies the rule with `enrolled=None` (a drop is then left to the ledger, which knows
whether it is a seat or a waitlist place), and the ledger checks the window before any
other rule, so both paths give the same answer for the same facts.

Windows are a term's (`term_id`): the cohort rule is applied within each term, and a course
is taken under its own term's windows. The queue does not know a course's term: it applies
the rule with `term_id=None`, which counts a window of any term, so admission never refuses
what the ledger would accept (it may queue what the ledger then refuses as closed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class RegistrationWindow:
    opens_at: float
    closes_at: float
    drop_deadline: float
    cohort: int | None = None  # None: every cohort
    term_id: int | None = None  # None: not known (counts for every term)

    def open_for_enrolling(self, now: float) -> bool:
        return self.opens_at <= now < self.closes_at

    def open_for_dropping(self, now: float) -> bool:
        return self.opens_at <= now <= self.drop_deadline


@dataclass(frozen=True)
class WindowRefusal:
    """A refusal by the window rule: its problem type and the reason a student reads."""

    type: str
    reason: str


WINDOW_CLOSED = WindowRefusal("window-closed", "registration is not open for you now")
DROP_CLOSED = WindowRefusal("drop-deadline", "the drop deadline has passed, or dropping has not opened yet")


def applicable(windows: Iterable[RegistrationWindow], cohort: int | None) -> tuple[RegistrationWindow, ...]:
    """In each term, the windows of the student's cohort if it has any, else those for every cohort."""
    every = tuple(windows)
    chosen: list[RegistrationWindow] = []
    for term in dict.fromkeys(w.term_id for w in every):
        of_term = [w for w in every if w.term_id == term]
        mine = [w for w in of_term if cohort is not None and w.cohort == cohort]
        chosen.extend(mine or [w for w in of_term if w.cohort is None])
    return tuple(chosen)


def of_term(windows: Iterable[RegistrationWindow], term_id: int | None) -> tuple[RegistrationWindow, ...]:
    """The windows that count for a course of `term_id` (None: a window of any term counts)."""
    return tuple(w for w in windows if term_id is None or w.term_id in (term_id, None))


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
        return WINDOW_CLOSED
    return None
