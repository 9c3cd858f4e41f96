"""The ledger's rules in exact scenarios, on a real SQLite ledger."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from services.course_data.rules import Decision
from storage.schemas.course_data import holds, permits, waitlist, windows
from tests.unit.test_ledger_stateful import LedgerMachine


class Ledger:
    """The state machine's catalogue (C1..C5, students 1-3; 1 and 2 completed C9), driven by hand."""

    def __init__(self) -> None:
        self.machine = LedgerMachine()
        self.machine.open_ledger()

    def do(self, action: str, *args: int) -> Decision:
        machine = self.machine

        async def run() -> Decision:
            async with machine.db.write() as conn:
                ledger, now = machine.ledger, machine.now
                if action == "enroll":
                    return await ledger.enroll(conn, args[0], None, args[1], "t", now)
                if action == "drop":
                    return await ledger.drop(conn, args[0], None, args[1], "t", now)
                return await ledger.swap(conn, args[0], None, args[1], args[2], "t", now)

        result = machine.run(run())
        assert isinstance(result, Decision)
        return result

    def sql(self, statement: Any) -> list[Any]:
        async def run() -> list[Any]:
            async with self.machine.db.write() as conn:
                result = await conn.execute(statement)
                return list(result.all()) if result.returns_rows else []

        rows = self.machine.run(run())
        assert isinstance(rows, list)
        return rows


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    made = Ledger()
    yield made
    made.machine.teardown()


def test_promotion_serves_the_waitlist_in_order_skipping_the_ineligible(ledger: Ledger) -> None:
    assert ledger.do("enroll", 3, 1).outcome == "accepted"  # student 3 holds C1 (Mon 9:00)
    assert ledger.do("enroll", 1, 2).outcome == "accepted"  # C2 (1 seat, Mon 9:30) taken by 1
    assert ledger.do("enroll", 2, 2).outcome == "waitlisted"  # 2 first in line
    ledger.sql(update(windows).values(opens_at=0))  # (keep the window open)
    assert ledger.do("enroll", 3, 2).type == "time-conflict"  # 3 cannot even queue: C2 clashes with C1
    assert ledger.do("drop", 3, 1).outcome == "accepted"
    assert ledger.do("enroll", 3, 2).outcome == "waitlisted"  # now 3 is second in line
    assert ledger.do("enroll", 2, 1).outcome == "accepted"  # 2 takes C1, which clashes with C2
    assert ledger.do("drop", 1, 2).outcome == "accepted"  # a seat frees: 2 is ineligible, 3 gets it
    taken = ledger.sql(select(waitlist.c.student_id).where(waitlist.c.course_id == 2))
    assert [r.student_id for r in taken] == [2]  # 2 keeps its place
    assert ledger.do("enroll", 3, 2).type == "already-enrolled"


def test_a_swap_drops_only_if_the_add_succeeds(ledger: Ledger) -> None:
    assert ledger.do("enroll", 1, 4).outcome == "accepted"  # C4 (1 seat)
    assert ledger.do("enroll", 2, 1).outcome == "accepted"
    refused = ledger.do("swap", 2, 1, 4)  # C4 is full
    assert refused.type == "course-full"
    assert ledger.do("enroll", 2, 1).type == "already-enrolled"  # still holds C1
    assert ledger.do("swap", 2, 1, 2).outcome == "accepted"  # C2 clashes with C1, but C1 is given up
    assert ledger.do("enroll", 3, 1).outcome == "accepted"  # C1's freed seat


def test_prerequisites_holds_windows_and_permits(ledger: Ledger) -> None:
    refused = ledger.do("enroll", 3, 3)
    assert refused.type == "prerequisites-missing"
    assert refused.details["missing"] == ["C9"]
    assert ledger.do("enroll", 1, 3).outcome == "accepted"  # 1 completed C9
    ledger.sql(
        permits.insert().values(
            course_id=3, student_id=3, capacity=False, prerequisites=True, created_by="t", created_at=0
        )
    )
    assert ledger.do("enroll", 3, 3).outcome == "accepted"
    assert ledger.do("enroll", 1, 5).outcome == "waitlisted"  # C5 has no seats
    ledger.sql(
        permits.insert().values(
            course_id=5, student_id=2, capacity=True, prerequisites=False, created_by="t", created_at=0
        )
    )
    past_capacity = ledger.do("enroll", 2, 5)
    assert past_capacity.outcome == "accepted"
    assert past_capacity.via_permit
    ledger.sql(holds.insert().values(student_id=2, reason="unpaid fees", created_by="admin", created_at=0))
    held = ledger.do("enroll", 2, 4)
    assert held.type == "hold"
    assert "unpaid fees" in held.reason
    ledger.sql(update(windows).values(closes_at=ledger.machine.now - 1))
    assert ledger.do("enroll", 3, 4).type == "window-closed"
    assert ledger.do("drop", 3, 3).outcome == "accepted"  # the drop deadline is still ahead
    ledger.sql(update(windows).values(drop_deadline=ledger.machine.now - 1))
    assert ledger.do("drop", 1, 3).type == "drop-deadline"
    assert ledger.do("drop", 1, 5).outcome == "accepted"  # leaving a waitlist is always allowed


def test_credit_and_course_limits(ledger: Ledger) -> None:
    assert ledger.do("enroll", 1, 1).outcome == "accepted"  # 3 credits
    assert ledger.do("enroll", 1, 4).outcome == "accepted"  # 4: 7 of 8
    over = ledger.do("enroll", 1, 3)  # 2 more: 9 > 8
    assert over.type == "credit-limit"
    assert ledger.do("enroll", 1, 99).type == "no-such-course"


def test_a_student_who_gives_up_a_course_gets_a_free_seat_they_were_waiting_for(ledger: Ledger) -> None:
    """Found by the state machine: the seat freed while the student did not fit (credits); their own
    drop later made them fit, and the free seat must then go to them."""
    assert ledger.do("enroll", 2, 4).outcome == "accepted"  # C4: 1 seat, 4 credits
    assert ledger.do("enroll", 1, 4).outcome == "waitlisted"
    assert ledger.do("enroll", 1, 1).outcome == "accepted"  # 3 credits
    assert ledger.do("enroll", 1, 3).outcome == "accepted"  # 2 more: 5 of 8
    assert ledger.do("drop", 2, 4).outcome == "accepted"  # C4 frees, but 5 + 4 > 8: student 1 must wait
    assert [r.student_id for r in ledger.sql(select(waitlist.c.student_id).where(waitlist.c.course_id == 4))] == [1]
    assert ledger.do("drop", 1, 1).outcome == "accepted"  # now 2 + 4 fits
    assert ledger.sql(select(waitlist.c.student_id).where(waitlist.c.course_id == 4)) == []
    assert ledger.do("enroll", 1, 4).type == "already-enrolled"
