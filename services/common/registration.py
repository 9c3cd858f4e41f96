"""The registration-window rule: the one rule admission (the queue) and the ledger both apply.

A student uses the windows of their cohort if it has any, else those for every cohort;
no window means registration is closed. An enrollment or a swap needs a window open
(`opens_at <= now < closes_at`); dropping a course one is enrolled in needs
`opens_at <= now <= drop_deadline`; leaving a waitlist is allowed at any time.

The queue knows the student's cohort, the action and the time, not their enrollments:
it applies the rule with `enrolled=None` (a drop is then left to the ledger, which knows
whether it is a seat or a waitlist place), and the ledger checks the window before any
other rule, so both paths give the same answer for the same facts.
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
    """The windows of the student's cohort if it has any, else those for every cohort."""
    every = tuple(windows)
    mine = tuple(w for w in every if cohort is not None and w.cohort == cohort)
    return mine or tuple(w for w in every if w.cohort is None)


def window_refusal(
    windows: Iterable[RegistrationWindow], action: str, now: float, enrolled: bool | None = None
) -> WindowRefusal | None:
    """Why the window rule refuses `action` now (None: it allows it), given the windows that
    apply to the student. `enrolled`: for a drop, whether the course is one the student is
    enrolled in (False: a waitlist place, left at any time; None: not known, allowed here)."""
    if action == "drop":
        if enrolled and not any(w.open_for_dropping(now) for w in windows):
            return DROP_CLOSED
        return None
    if not any(w.open_for_enrolling(now) for w in windows):
        return WINDOW_CLOSED
    return None
