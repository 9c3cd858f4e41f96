"""The batch ledger decides exactly as the one-at-a-time ledger would, once per request id."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from services.common.registration import Standing
from services.course_data.batch import Queued, coalesced, decide_batch, full_courses
from services.course_data.groups import enroll_group
from services.course_data.rules import CourseFacts, Decision, full_refusal, reject
from storage.schemas.core import outbox
from storage.schemas.course_data import (
    consent_courses,
    corequisites,
    course_restrictions,
    courses,
    enrollments,
    ledger_audit,
    permits,
    queue_decisions,
    waitlist,
    windows,
)
from tests.databases import new_database
from tests.unit.test_ledger_stateful import CATALOGUE, RULES, LedgerMachine

OPERATION = st.tuples(
    st.sampled_from(["enroll", "enroll", "enroll", "drop", "swap"]),
    st.integers(min_value=1, max_value=6),  # student
    st.integers(min_value=1, max_value=11),  # course (C6 the next term's; 7-10 S1's sections; 11 none)
    st.integers(min_value=1, max_value=10),  # the course a swap gives up
)
OPERATIONS = st.lists(OPERATION, min_size=1, max_size=25)
# The sections property's requests: those, and section groups of S1 queued among them, taken
# together ("group": a lecture and a lab) or swapped into ("regroup": giving up the other lecture
# and the other lab, so a student holding those moves whole).
SECTION_OPERATIONS = st.lists(
    st.one_of(
        OPERATION,
        st.tuples(
            st.sampled_from(["group", "regroup"]), st.integers(1, 6), st.sampled_from([7, 8]), st.sampled_from([9, 10])
        ),
    ),
    min_size=1,
    max_size=25,
)
COURSE_IDS = st.integers(min_value=1, max_value=5)
# Section groups of S1 (a lecture and a lab) students hold before the batch: its requests then
# swap section to section, drop a section (the offering with it), or ask for a second one.
GROUPS = st.lists(
    st.tuples(st.integers(min_value=1, max_value=6), st.sampled_from([7, 8]), st.sampled_from([9, 10])),
    max_size=4,
)
# The registrar's rules over the machine's catalogue: corequisites, restrictions, consent courses
# and consent permits, windows for narrower audiences (open now, or opening later), and each
# student's standing (what their token says).
ELIGIBILITY = st.fixed_dictionaries(
    {
        "corequisites": st.sets(st.tuples(COURSE_IDS, st.sampled_from(["C1", "C2", "C3", "C4", "C5", "C9"]))),
        "restrictions": st.sets(
            st.tuples(
                COURSE_IDS, st.sampled_from([("program", "CS"), ("program", "EE"), ("year", "4"), ("cohort", "2024")])
            )
        ),
        "consent": st.sets(COURSE_IDS, max_size=2),
        "consents": st.sets(st.tuples(COURSE_IDS, st.integers(min_value=1, max_value=6)), max_size=4),
        "windows": st.lists(
            st.tuples(
                st.sampled_from(
                    [("student", 1), ("student", 2), ("group", "final"), ("cohort", 2024), ("cohort", 2025)]
                ),
                st.booleans(),  # open now, or opening in an hour
            ),
            max_size=3,
        ),
        "standings": st.dictionaries(
            st.integers(min_value=1, max_value=6),
            st.builds(
                Standing,
                cohort=st.sampled_from([None, 2024, 2025]),
                program=st.sampled_from([None, "CS", "EE"]),
                year=st.sampled_from([None, 1, 4]),
                priority_group=st.sampled_from([None, "final"]),
            ),
            max_size=6,
        ),
    }
)
NO_RULES: dict[str, Any] = {
    "corequisites": set(),
    "restrictions": set(),
    "consent": set(),
    "consents": set(),
    "windows": [],
    "standings": {},
}


class Twin:
    """One ledger database of the state machine's catalogue (a new SQLite file, or emptied at `url`)."""

    def __init__(self, url: str | None = None) -> None:
        self.machine = LedgerMachine()
        if url is None:
            self.machine.open_ledger()
        else:
            self.machine.open_ledger_at(url)

    def apply(self, eligibility: dict[str, Any]) -> None:
        """Write the registrar's rules of `ELIGIBILITY` into this twin's ledger."""
        machine = self.machine

        async def write() -> None:
            async with machine.db.write() as conn:
                for course_id, code in eligibility["corequisites"]:
                    await conn.execute(corequisites.insert().values(course_id=course_id, required_code=code))
                for course_id, (kind, value) in eligibility["restrictions"]:
                    await conn.execute(course_restrictions.insert().values(course_id=course_id, kind=kind, value=value))
                for course_id in eligibility["consent"]:
                    await conn.execute(consent_courses.insert().values(course_id=course_id))
                for course_id, student_id in eligibility["consents"]:
                    await conn.execute(
                        permits.insert().values(
                            course_id=course_id, student_id=student_id, consent=True, created_by="t", created_at=0
                        )
                    )
                for (kind, who), open_now in eligibility["windows"]:
                    opens = machine.now - 60 if open_now else machine.now + 3600
                    audience = {"student": "student_id", "group": "priority_group", "cohort": "cohort"}[kind]
                    await conn.execute(
                        windows.insert().values(
                            **{audience: who}, opens_at=opens, closes_at=opens + 3600, drop_deadline=opens + 3600
                        )
                    )

        machine.run(write())

    def groups(self, groups: list[tuple[int, int, int]]) -> list[str]:
        """Take each (student, lecture, lab) together, in order: the outcomes."""
        machine = self.machine

        async def run() -> list[str]:
            outcomes = []
            for student, lecture, lab in groups:
                async with machine.db.write() as conn:
                    decided = await enroll_group(machine.ledger, conn, student, None, [lecture, lab], "g", machine.now)
                outcomes.append(decided.type or decided.outcome)
            return outcomes

        result = machine.run(run())
        assert isinstance(result, list)
        return result

    def batch(self, requests: list[Queued], now: float | None = None) -> list[Any]:
        machine = self.machine

        async def run() -> list[Any]:
            async with machine.db.write() as conn:
                return await decide_batch(conn, machine.ledger, requests, machine.now if now is None else now)

        result = machine.run(run())
        assert isinstance(result, list)
        return result

    def one_by_one(self, requests: list[Queued]) -> list[Decision]:
        machine = self.machine

        async def run(r: Queued) -> Decision:
            async with machine.db.write() as conn:
                ledger, now = machine.ledger, machine.now
                who = r.standing
                if r.section_ids:
                    sections, drops = r.section_ids, r.drop_ids
                    return await enroll_group(ledger, conn, r.student_id, who, sections, r.actor, now, drop_ids=drops)
                if r.action == "enroll":
                    return await ledger.enroll(conn, r.student_id, who, r.course_id, r.actor, now)
                if r.action == "drop":
                    return await ledger.drop(conn, r.student_id, who, r.course_id, r.actor, now)
                assert r.drop_course_id is not None
                return await ledger.swap(conn, r.student_id, who, r.drop_course_id, r.course_id, r.actor, now)

        answers = []
        for r in requests:
            decision = machine.run(run(r))
            assert isinstance(decision, Decision)
            answers.append(decision)
        return answers

    def state(self) -> dict[str, Any]:
        async def read() -> dict[str, Any]:
            async with self.machine.db.read() as conn:
                return {
                    "taken": (await conn.execute(select(courses.c.id, courses.c.taken).order_by(courses.c.id))).all(),
                    "enrolled": sorted(
                        (await conn.execute(select(enrollments.c.course_id, enrollments.c.student_id))).all()
                    ),
                    "waiting": (
                        await conn.execute(
                            select(waitlist.c.course_id, waitlist.c.student_id, waitlist.c.group_sections).order_by(
                                waitlist.c.course_id, waitlist.c.id
                            )
                        )
                    ).all(),
                    "audit": (
                        await conn.execute(
                            select(
                                ledger_audit.c.action,
                                ledger_audit.c.student_id,
                                ledger_audit.c.course_id,
                                ledger_audit.c.outcome,  # (its reason may name a time: each twin has its own)
                            ).order_by(ledger_audit.c.id)
                        )
                    ).all(),
                }

        result = self.machine.run(read())
        assert isinstance(result, dict)
        return result

    def close(self) -> None:
        self.machine.teardown()


def queued(
    operations: list[tuple[str, int, int, int]],
    deadline: float = float("inf"),
    standings: dict[int, Standing] | None = None,
) -> list[Queued]:
    """The requests of `operations`; a "group" (student, lecture, lab) is that section group, and a
    "regroup" the swap into it that gives up the other lecture and the other lab of S1."""
    who = standings or {}
    requests = []
    for action, student, course, drop in operations:
        group = action in ("group", "regroup")
        sections = (course, drop) if group else ()
        drops = (15 - course, 19 - drop) if action == "regroup" else ()
        requests.append(
            Queued(
                uuid.uuid4().hex,
                {"group": "enroll", "regroup": "swap"}.get(action, action),  # type: ignore[arg-type]
                student,
                who.get(student, Standing()).cohort,
                course,
                drop if action == "swap" else None,
                "q",
                deadline,
                who.get(student, Standing()).program,
                who.get(student, Standing()).year,
                who.get(student, Standing()).priority_group,
                sections,
                drops,
            )
        )
    return requests


@pytest.fixture
def twins() -> Iterator[tuple[Twin, Twin]]:
    pair = (Twin(), Twin())
    yield pair
    for twin in pair:
        twin.close()


@settings(max_examples=35, deadline=None)  # (every CI run draws new examples)
@given(operations=OPERATIONS)
def test_a_batch_decides_as_the_requests_would_one_by_one(operations: list[tuple[str, int, int, int]]) -> None:
    batch_equals_one_by_one(operations, None, None)


@settings(max_examples=35, deadline=None)
@given(operations=OPERATIONS, eligibility=ELIGIBILITY)
def test_a_batch_decides_as_one_by_one_under_the_registrars_rules(
    operations: list[tuple[str, int, int, int]], eligibility: dict[str, Any]
) -> None:
    """Time tickets, priority groups, corequisites, restrictions and consent decide alike on both paths."""
    batch_equals_one_by_one(operations, None, None, eligibility)


@settings(max_examples=30, deadline=None)
@given(operations=SECTION_OPERATIONS, groups=GROUPS)
def test_a_batch_decides_as_one_by_one_over_sections(
    operations: list[tuple[str, int, int, int]], groups: list[tuple[int, int, int]]
) -> None:
    """Students hold section groups first; the batch's section groups and swaps into them,
    queued among swaps between sections, drops and single-section requests, then decide alike
    on both paths, in order, never overselling a section."""
    batch_equals_one_by_one(operations, None, None, groups=groups)


@pytest.fixture(params=["postgres", "mariadb"])
def server_twins(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """Two databases on a server, emptied and reused by each example (a new one each costs seconds)."""
    return (
        asyncio.run(new_database(request, request.param, tmp_path)),
        asyncio.run(new_database(request, request.param, tmp_path)),
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS, eligibility=ELIGIBILITY)
def test_a_batch_decides_as_one_by_one_on_a_server(
    server_twins: tuple[str, str], operations: list[tuple[str, int, int, int]], eligibility: dict[str, Any]
) -> None:
    batch_equals_one_by_one(operations, *server_twins, eligibility)


def batch_equals_one_by_one(
    operations: list[tuple[str, int, int, int]],
    batched_url: str | None,
    sequential_url: str | None,
    eligibility: dict[str, Any] = NO_RULES,
    groups: list[tuple[int, int, int]] | None = None,
) -> None:
    batched, sequential = Twin(batched_url), Twin(sequential_url)
    try:
        batched.apply(eligibility)
        sequential.apply(eligibility)
        assert batched.groups(groups or []) == sequential.groups(groups or [])
        requests = queued(operations, standings=eligibility["standings"])
        answers = batched.batch(requests)
        expected = sequential.one_by_one(requests)
        assert [(a.decision.outcome, a.decision.type) for a in answers] == [(d.outcome, d.type) for d in expected]
        assert batched.state() == sequential.state()
        assert [a.seq for a in answers] == sorted(a.seq for a in answers)  # decided in order
        again = batched.batch(requests)  # a redelivered batch: same answers, nothing applied twice
        assert [(a.decision.outcome, a.seq) for a in again] == [(a.decision.outcome, a.seq) for a in answers]
        for first, second in zip(answers, again, strict=True):  # (its place, a better one, or none: promoted)
            if first.decision.outcome == "waitlisted":
                assert (
                    second.decision.details.get("waitlist_position", 0) <= first.decision.details["waitlist_position"]
                )
        assert batched.state() == sequential.state()
        for course_id, taken in batched.state()["taken"]:  # (never oversold: the capacities are the catalogue's)
            assert taken <= CATALOGUE[course_id - 1][2], course_id
    finally:
        batched.close()
        sequential.close()


def test_section_groups_among_singles_are_decided_in_the_batch_s_order(twins: tuple[Twin, Twin]) -> None:
    """S1's L01 has 2 seats, its lab B01 1, lab B02 2. Student 5 holds L02 + B02 before the batch.
    Each group and single is decided where it stands: a seat freed by an earlier swap goes to the
    next group, and a seat taken by an earlier single is not there for a later group."""
    batched, sequential = twins
    for twin in twins:
        assert twin.groups([(5, 8, 10)]) == ["accepted"]
    operations = [
        ("group", 1, 7, 9),  # L01 1/2, B01 1/1
        ("swap", 5, 7, 8),  # a single swap L02 -> L01: L01 2/2
        ("group", 2, 7, 10),  # L01 full: the whole group waits on L01, B02 untouched
        ("regroup", 1, 8, 10),  # student 1 moves to L02 + B02, freeing L01 and B01 (B02 now full:
        # student 2's group cannot be taken whole, so it keeps waiting)
        ("group", 3, 7, 9),  # the freed seats, in order
        ("group", 4, 7, 9),  # L01 full again: waits behind student 2
    ]
    requests = queued(operations)
    decided = batched.batch(requests)
    answers = [(a.decision.outcome, a.decision.type) for a in decided]
    expected = [
        ("accepted", ""),
        ("accepted", ""),
        ("waitlisted", ""),
        ("accepted", ""),
        ("accepted", ""),
        ("waitlisted", ""),
    ]
    assert answers == expected
    assert [(d.outcome, d.type) for d in sequential.one_by_one(requests)] == expected
    assert batched.state() == sequential.state()
    assert batched.state()["enrolled"] == [(7, 3), (7, 5), (8, 1), (9, 3), (10, 1), (10, 5)]
    assert batched.state()["waiting"] == [(7, 2, "10"), (7, 4, "9"), (9, 4, "7")]  # (4 waits on both)
    redelivered = batched.batch(requests)
    again = [(a.decision.outcome, a.decision.type) for a in redelivered]
    assert again == expected  # redelivered: the same answers, nothing applied twice
    assert batched.state() == sequential.state()
    places = [{"section_id": 7, "position": 2}, {"section_id": 9, "position": 1}]
    assert decided[5].decision.details == {"waitlist_position": 2, "waitlist_positions": places}
    assert [a.decision.details for a in redelivered] == [a.decision.details for a in decided]  # (with the places)


def test_section_groups_in_one_run_fill_and_leave_waitlists_as_one_by_one(twins: tuple[Twin, Twin]) -> None:
    """Groups only, so one run decides them all on facts loaded once: each decision must see the
    waitlist places and seats the ones before it took (B01 has 1 seat, its waitlist 2 places),
    and a student taking a group leaves the offering's waitlist in the same run."""
    batched, sequential = twins
    operations = [
        ("group", 1, 7, 9),  # L01 1/2, B01 1/1
        ("group", 2, 7, 9),  # waits on B01 (1st)
        ("group", 3, 7, 9),  # waits on B01 (2nd): its waitlist is full
        ("group", 4, 7, 9),  # refused: waitlist-full
        ("group", 2, 8, 10),  # L02 and B02 have seats: taken, and student 2 leaves B01's waitlist
        ("group", 5, 7, 9),  # a place again: waits on B01 (2nd)
    ]
    requests = queued(operations)
    decided = batched.batch(requests)
    expected = [
        ("accepted", ""),
        ("waitlisted", ""),
        ("waitlisted", ""),
        ("rejected", "waitlist-full"),
        ("accepted", ""),
        ("waitlisted", ""),
    ]
    assert [(a.decision.outcome, a.decision.type) for a in decided] == expected
    assert [(d.outcome, d.type) for d in sequential.one_by_one(requests)] == expected
    assert [a.decision.details.get("waitlist_position") for a in decided] == [None, 1, 2, None, None, 2]
    assert batched.state() == sequential.state()
    assert batched.state()["waiting"] == [(9, 3, "7"), (9, 5, "7")]
    assert batched.state()["enrolled"] == [(7, 1), (8, 2), (9, 1), (10, 2)]


def test_an_unknown_course_is_refused_and_recorded_as_one_by_one(twins: tuple[Twin, Twin]) -> None:
    """A request for a course that does not exist is refused as `no-such-course` on both paths,
    and leaves the same trail: no audit row for the course (nothing of the ledger changed),
    while the requests around it are decided and audited as usual."""
    batched, sequential = twins
    requests = queued([("enroll", 1, 1, 0), ("enroll", 1, 99, 0), ("enroll", 2, 2, 0)])
    expected = [("accepted", ""), ("rejected", "no-such-course"), ("accepted", "")]
    assert [(a.decision.outcome, a.decision.type) for a in batched.batch(requests)] == expected
    assert [(d.outcome, d.type) for d in sequential.one_by_one(requests)] == expected
    assert batched.state() == sequential.state()
    assert [(a.student_id, a.course_id) for a in batched.state()["audit"]] == [(1, 1), (2, 2)]


def test_past_the_deadline_a_request_is_rejected_as_timeout_and_notified(twins: tuple[Twin, Twin]) -> None:
    twin, _ = twins
    late = queued([("enroll", 1, 1, 0)], deadline=twin.machine.now - 1)
    [answer] = twin.batch(late)
    assert (answer.decision.outcome, answer.decision.type) == ("rejected", "timeout")
    assert twin.state()["enrolled"] == []
    on_time = queued([("enroll", 1, 1, 0), ("enroll", 2, 1, 0)])
    assert [a.decision.outcome for a in twin.batch(on_time)] == ["accepted", "accepted"]

    async def messages() -> list[Any]:
        async with twin.machine.db.read() as conn:
            return list((await conn.execute(select(outbox.c.user_id, outbox.c.subject).order_by(outbox.c.id))).all())

    assert twin.machine.run(messages()) == [
        (1, "Enrollment in C1: refused"),
        (1, "Enrollment in C1: done"),
        (2, "Enrollment in C1: done"),
    ]


def test_a_run_cut_by_a_timed_out_request_sees_the_rows_of_the_run_before(twins: tuple[Twin, Twin]) -> None:
    """Student 1 takes C1, a request past its deadline cuts the run, then student 1 asks for C2
    (which clashes with C1): the second run must read the first run's enrollment, written or
    not yet sent, and refuse the clash."""
    batched, _ = twins
    late = dataclasses.replace(queued([("enroll", 2, 4, 1)])[0], deadline=batched.machine.now - 1)
    requests = [queued([("enroll", 1, 1, 1)])[0], late, queued([("enroll", 1, 2, 1)])[0]]
    answers = [(a.decision.outcome, a.decision.type) for a in batched.batch(requests)]
    assert answers == [("accepted", ""), ("rejected", "timeout"), ("rejected", "time-conflict")]
    assert batched.state()["enrolled"] == [(1, 1)]


def test_a_students_decisions_in_a_batch_are_one_message(twins: tuple[Twin, Twin]) -> None:
    twin, _ = twins
    many = queued([("enroll", 1, 1, 0), ("enroll", 1, 1, 0), ("enroll", 1, 1, 0), ("enroll", 2, 1, 0)])
    assert [a.decision.type for a in twin.batch(many)] == ["", "already-enrolled", "already-enrolled", ""]

    async def messages() -> list[Any]:
        async with twin.machine.db.read() as conn:
            query = select(outbox.c.user_id, outbox.c.subject, outbox.c.body).order_by(outbox.c.id)
            return list((await conn.execute(query)).all())

    [first, second] = twin.machine.run(messages())
    assert (first.user_id, first.subject) == (1, "3 registration requests decided")
    assert first.body.splitlines()[0] == "Enrollment in C1: done"
    assert first.body.splitlines()[1].startswith("Enrollment in C1: refused: ")
    assert first.body.splitlines()[1].endswith("(2 requests)")
    assert (second.user_id, second.subject) == (2, "Enrollment in C1: done")
    assert coalesced(Counter({("Enrollment in C1: refused", "full"): 4})) == (
        "Enrollment in C1: refused (4 requests)",
        "full",
    )


def test_a_failing_request_is_refused_alone_and_the_batch_goes_on(twins: tuple[Twin, Twin]) -> None:
    twin, _ = twins
    assert twin.batch(queued([("enroll", 1, 1, 0)]))[0].decision.outcome == "accepted"

    async def break_drops() -> None:  # a trigger makes any drop from C1 fail inside the ledger
        async with twin.machine.db.write() as conn:
            await conn.execute(
                text(
                    "CREATE TRIGGER no_drop BEFORE DELETE ON enrollments WHEN old.course_id = 1 "
                    "BEGIN SELECT RAISE(ABORT, 'drops are broken'); END"
                )
            )

    twin.machine.run(break_drops())
    answers = twin.batch(queued([("drop", 1, 1, 0), ("enroll", 2, 1, 0)]))
    assert [(a.decision.outcome, a.decision.type) for a in answers] == [
        ("rejected", "ledger-error"),
        ("accepted", ""),
    ]
    assert twin.state()["enrolled"] == [(1, 1), (1, 2)]  # the failed drop changed nothing

    async def recorded() -> int:
        async with twin.machine.db.read() as conn:
            return len((await conn.execute(select(queue_decisions))).all())

    assert twin.machine.run(recorded()) == 3


def test_a_course_is_reported_full_exactly_when_the_ledger_refuses_its_next_enrollment(
    twins: tuple[Twin, Twin],
) -> None:
    twin, _ = twins
    machine = twin.machine

    def reported(course_ids: list[int]) -> dict[int, Any]:
        async def read() -> dict[int, Any]:
            async with machine.db.read() as conn:
                return await full_courses(conn, machine.ledger, course_ids)

        result = machine.run(read())
        assert isinstance(result, dict)
        return result

    assert reported([1, 5, 99]) == {1: None, 5: None}  # C5 has no seat but waitlist places; 99 does not exist
    twin.batch(queued([("enroll", 1, 5, 0), ("enroll", 2, 5, 0)]))  # the waitlist (2 places) fills
    refusal = reported([5])[5]
    assert (refusal.outcome, refusal.type) == ("rejected", "waitlist-full")
    [next_one] = twin.batch(queued([("enroll", 3, 5, 0)]))
    assert next_one.decision == refusal  # what the queue would answer at once is the ledger's answer

    async def grant_a_capacity_permit() -> None:
        async with machine.db.write() as conn:
            await conn.execute(
                permits.insert().values(course_id=5, student_id=3, capacity=True, created_by="t", created_at=0)
            )

    machine.run(grant_a_capacity_permit())
    assert reported([5]) == {5: None}  # its holder may still enroll: never refused at once
    without_waitlist = RULES.model_copy(update={"waitlist_enabled": False})
    course = CourseFacts(1, "C1", 3, 2, 2, ())
    assert full_refusal(course, without_waitlist) == reject("course-full", "C1 is full")
    assert full_refusal(dataclasses.replace(course, taken=1), without_waitlist) is None
