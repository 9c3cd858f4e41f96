"""The one window rule, through both paths: queue on (admission, then the ledger's batch) and
queue off (the one-at-a-time ledger) give the same answer for the same facts, for every rule."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import delete, select

from cluster.settings import QueueSettings
from services.common.answers import JSONResponse
from services.common.problems import ProblemError
from services.common.registration import Standing
from services.course_data.batch import Queued, decide_batch
from services.queue.admission import Admitter
from services.queue.records import Admission, Admitted
from services.queue.windows import WindowCache
from storage.schemas.course_data import holds, windows
from tests.unit.test_ledger_stateful import LedgerMachine

HOUR = 3600.0


@dataclass(frozen=True)
class Case:
    """Facts: the windows (relative to now: opens, closes, drop deadline, cohort), what the
    student holds before; then the request and the answer both paths must give."""

    name: str
    # The 4th item is the audience: a cohort (None: everyone), or ("student", id) / ("group", name).
    windows: tuple[tuple[float, float, float, Any], ...]
    action: str
    course: int
    expected: str  # a problem type, or the outcome when accepted/waitlisted
    drop: int | None = None
    cohort: int | None = None
    enrolled: tuple[int, ...] = ()  # courses enrolled in while the window was open (C5: a waitlist place)
    held: bool = False
    group: str | None = None  # the student's priority group

    @property
    def standing(self) -> Standing:
        return Standing(self.cohort, priority_group=self.group)


OPEN = (-60.0, HOUR, 2 * HOUR, None)
CLOSED = (-2 * HOUR, -HOUR, HOUR, None)  # registration closed, dropping still open
PAST = (-3 * HOUR, -2 * HOUR, -HOUR, None)  # past the drop deadline too
LATER = (HOUR, 2 * HOUR, 3 * HOUR, None)

CASES = [
    Case("enroll in an open window", (OPEN,), "enroll", 1, "accepted"),
    Case("enroll before the window opens", (LATER,), "enroll", 1, "window-closed"),
    Case("enroll after it closed", (CLOSED,), "enroll", 1, "window-closed"),
    Case("enroll with no window at all", (), "enroll", 1, "window-closed"),
    Case("enroll after it closed, with a hold", (CLOSED,), "enroll", 1, "window-closed", held=True),
    Case("enroll in no such course after it closed", (CLOSED,), "enroll", 99, "window-closed"),
    Case("enroll in no such course", (OPEN,), "enroll", 99, "no-such-course"),
    Case("a cohort's own window, closed", (OPEN, (*CLOSED[:3], 2027)), "enroll", 1, "window-closed", cohort=2027),
    Case("a cohort with no window of its own", (OPEN, (*CLOSED[:3], 2027)), "enroll", 1, "accepted", cohort=2030),
    Case("drop after registration closed", (CLOSED,), "drop", 1, "accepted", enrolled=(1,)),
    Case("drop after the drop deadline", (PAST,), "drop", 1, "drop-deadline", enrolled=(1,)),
    Case("drop before the window opens", (LATER,), "drop", 1, "drop-deadline", enrolled=(1,)),
    Case("drop with no window at all", (), "drop", 1, "drop-deadline", enrolled=(1,)),
    Case("leave a waitlist after the deadline", (PAST,), "drop", 5, "accepted", enrolled=(5,)),
    Case("drop what one is not in, after the deadline", (PAST,), "drop", 1, "not-enrolled"),
    Case("swap in an open window", (OPEN,), "swap", 4, "accepted", drop=1, enrolled=(1,)),
    Case("swap after registration closed", (CLOSED,), "swap", 4, "window-closed", drop=1, enrolled=(1,)),
    Case("swap out of nothing after it closed", (CLOSED,), "swap", 4, "window-closed", drop=2),
    Case("swap after the drop deadline", (PAST,), "swap", 4, "window-closed", drop=1, enrolled=(1,)),
    Case("a time ticket open before everyone", (LATER, (*OPEN[:3], ("student", 3))), "enroll", 1, "accepted"),
    Case("another student's ticket", (LATER, (*OPEN[:3], ("student", 4))), "enroll", 1, "window-closed"),
    Case(
        "a ticket before the cohort's window",
        ((*LATER[:3], 2027), (*OPEN[:3], ("student", 3))),
        "enroll",
        1,
        "accepted",
        cohort=2027,
    ),
    Case("a ticket not open yet", (OPEN, (*LATER[:3], ("student", 3))), "enroll", 1, "window-closed"),
    Case(
        "a priority group first",
        ((*LATER[:3], 2027), (*OPEN[:3], ("group", "final"))),
        "enroll",
        1,
        "accepted",
        cohort=2027,
        group="final",
    ),
    Case(
        "the cohort's window, not yet, for one outside the group",
        ((*LATER[:3], 2027), (*OPEN[:3], ("group", "final"))),
        "enroll",
        1,
        "window-closed",
        cohort=2027,
        group="other",
    ),
    Case(
        "drop within a ticket's deadline", (PAST, (*CLOSED[:3], ("student", 3))), "drop", 1, "accepted", enrolled=(1,)
    ),
]
STUDENT = 3  # (completed nothing: no prerequisites in these courses)


@dataclass
class Recorded:
    """A queue store that records every admission (the queue's Redis is not the subject here)."""

    admitted: list[Admission] = field(default_factory=list)

    async def admit(self, admissions: list[Admission], now: float, max_open: int = 0) -> list[Admitted]:
        self.admitted += admissions
        return [Admitted(a.queue_request_id, True, "pending", n) for n, a in enumerate(admissions, 1)]


def ledger_for(case: Case) -> LedgerMachine:
    machine = LedgerMachine()
    machine.open_ledger()
    ledger, now = machine.ledger, machine.now

    async def setup() -> None:
        async with machine.db.write() as conn:
            for course in case.enrolled:  # (in the machine's window, open now)
                assert (await ledger.enroll(conn, STUDENT, case.standing, course, "t", now)).ok
            await conn.execute(delete(windows))
            for opens, closes, deadline, audience in case.windows:
                if isinstance(audience, tuple):
                    who = {"student_id" if audience[0] == "student" else "priority_group": audience[1]}
                else:
                    who = {"cohort": audience}
                await conn.execute(
                    windows.insert().values(
                        **who, opens_at=now + opens, closes_at=now + closes, drop_deadline=now + deadline
                    )
                )
            if case.held:
                await conn.execute(
                    holds.insert().values(student_id=STUDENT, reason="fees", created_by="a", created_at=0)
                )

    machine.run(setup())
    return machine


def _opens(opens: str | None, now: float) -> str:
    """` opens +N` (minutes from now, the machine's) for an ISO 8601 time with its offset (to the second)."""
    if not opens:
        return ""
    at = datetime.fromisoformat(opens)
    assert at.utcoffset() is not None
    return f" opens {round((at.timestamp() - now) / 60):+d}"


def answer_of(decision: Any, now: float = 0.0) -> str:
    """The answer's type, with when the window opens if it says so (both paths must agree)."""
    if decision.outcome != "rejected":
        return str(decision.outcome)
    return str(decision.type) + _opens(decision.details.get("opens_at"), now)


def answer_of_problem(refused: ProblemError, now: float) -> str:
    return refused.slug + _opens(refused.extra.get("opens_at"), now)


def queue_off(case: Case) -> str:
    machine = ledger_for(case)

    async def run() -> Any:
        async with machine.db.write() as conn:
            ledger, now = machine.ledger, machine.now
            if case.action == "enroll":
                return await ledger.enroll(conn, STUDENT, case.standing, case.course, "t", now)
            if case.action == "drop":
                return await ledger.drop(conn, STUDENT, case.standing, case.course, "t", now)
            assert case.drop is not None
            return await ledger.swap(conn, STUDENT, case.standing, case.drop, case.course, "t", now)

    try:
        return answer_of(machine.run(run()), machine.now)
    finally:
        machine.teardown()


def queue_on(case: Case) -> str:
    """Admission with the windows course_data serves, then the batch the decider sends."""
    machine = ledger_for(case)
    store = Recorded()

    async def served() -> list[dict[str, Any]]:
        async with machine.db.read() as conn:  # as GET /windows answers: instants in ISO 8601
            return json.loads(JSONResponse([dict(r._mapping) for r in await conn.execute(select(windows))]).body)

    async def run() -> str:
        admitter = Admitter(store, WindowCache(served), QueueSettings)  # type: ignore[arg-type]
        body: dict[str, Any] = {"action": case.action, "course_id": case.course}
        if case.drop is not None:
            body["drop_course_id"] = case.drop
        try:
            await admitter.admit(STUDENT, case.standing, "t", "key-1", body, now=machine.now)
        except ProblemError as refused:
            return answer_of_problem(refused, machine.now)
        [a] = store.admitted
        queued = Queued(
            a.queue_request_id,
            a.action,  # type: ignore[arg-type]
            a.student_id,
            a.cohort,
            a.course_id,
            a.drop_course_id,
            a.actor,
            math.inf,
            a.program,
            a.year,
            a.priority_group,
        )
        async with machine.db.write() as conn:
            [decided] = await decide_batch(conn, machine.ledger, [queued], machine.now)
        return answer_of(decided.decision, machine.now)

    try:
        result = machine.run(run())
        assert isinstance(result, str)
        return result
    finally:
        machine.teardown()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("path", [queue_off, queue_on], ids=["queue-off", "queue-on"])
def test_both_paths_give_the_rule_s_answer(case: Case, path: Callable[[Case], str]) -> None:
    assert path(case).split(" opens ")[0] == case.expected


@pytest.mark.parametrize("case", [c for c in CASES if c.expected == "window-closed"], ids=lambda c: c.name)
def test_both_paths_say_when_the_students_window_opens(case: Case) -> None:
    """A closed window's refusal names the same opening time (ISO 8601 with offset) on both paths,
    the student's next window if one is coming."""
    off, on = queue_off(case), queue_on(case)
    assert off == on
    coming = [w[0] for w in case.windows if w[0] > 0]
    assert off == ("window-closed" + (f" opens {round(min(coming) / 60):+d}" if coming else ""))
