"""When a section group waits (`rules.decide_group`): only when every rule passes and sections
are full; never a swap, never past a full waitlist, never with waitlists off; once per offering."""

from __future__ import annotations

from cluster.settings import CourseSettings
from services.course_data.rules import CourseFacts, Permit, RegistrationWindow, StudentFacts, decide_group

NOW = 1000.0
OPEN = (RegistrationWindow(NOW - 10, NOW + 10, NOW + 20),)
SECTIONS = ((1, "L01", "lecture"), (2, "B01", "lab"), (3, "B02", "lab"))
RULES = CourseSettings(waitlist_max_length=2)


def section(cid: int, taken: int = 0, waiting: int = 0) -> CourseFacts:
    _, name, kind = SECTIONS[cid - 1]
    return CourseFacts(
        cid, "BIO1", 3, 1, taken, waitlist_length=waiting, section=name, kind=kind, offering_sections=SECTIONS
    )


def student(**fields: object) -> StudentFacts:
    return StudentFacts(7, windows=OPEN, **fields)  # type: ignore[arg-type]


def test_a_group_waits_on_its_full_sections_only_when_every_other_rule_passes() -> None:
    group = (section(1), section(2, taken=1, waiting=1))
    waits = decide_group(student(), group, {}, RULES, NOW)
    assert (waits.decision.outcome, waits.waiting) == ("waitlisted", (2,))
    assert waits.decision.details["waitlist_positions"] == [{"section_id": 2, "position": 2}]
    held = decide_group(student(holds=("fees",)), group, {}, RULES, NOW)
    assert held.decision.type == "hold"  # a rule refusing comes first: it does not wait
    assert decide_group(student(), group, {}, CourseSettings(waitlist_enabled=False), NOW).decision.type == (
        "section-full"
    )
    assert decide_group(student(), group, {}, RULES, NOW, dropping=frozenset({9})).decision.type == "section-full"
    past = decide_group(student(), (section(1), section(2, taken=1, waiting=2)), {}, RULES, NOW)
    assert (past.decision.type, past.decision.details["section_id"]) == ("waitlist-full", 2)
    again = decide_group(student(waitlisted=frozenset({3})), group, {}, RULES, NOW)
    assert (again.decision.type, again.decision.details["section_id"]) == ("already-waitlisted", 3)
    promoting = decide_group(student(waitlisted=frozenset({2})), group, {}, RULES, NOW, promoting=True)
    assert promoting.decision.type == "section-full"  # a waiting head keeps waiting


def test_a_capacity_permit_or_override_takes_the_full_section_instead_of_waiting() -> None:
    group = (section(1), section(2, taken=1))
    permitted = decide_group(student(), group, {2: Permit(capacity=True)}, RULES, NOW)
    assert (permitted.decision.outcome, permitted.seats) == ("accepted", {1: False, 2: True})
    overridden = decide_group(student(), group, {}, RULES, NOW, overrides=frozenset({"capacity"}))
    assert overridden.seats == {1: False, 2: True}
