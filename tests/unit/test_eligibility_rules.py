"""The registrar's eligibility rules as pure functions: time tickets and priority groups,
corequisites, restrictions, instructor consent; each refusal says what would make it succeed."""

from __future__ import annotations

import pytest

from cluster.settings import CourseSettings
from services.common.registration import RegistrationWindow, Standing, applicable, window_refusal
from services.course_data.rules import (
    OVERRIDES,
    CourseFacts,
    Permit,
    StudentFacts,
    decide_drop,
    decide_enroll,
    eligibility,
)

NOW = 1_800_000_000.0
RULES = CourseSettings()
OPEN = RegistrationWindow(NOW - 60, NOW + 3600, NOW + 7200)
LATER = RegistrationWindow(NOW + 3600, NOW + 7200, NOW + 7200)


def course(code: str = "CS401", **fields: object) -> CourseFacts:
    return CourseFacts(1, code, 3, 10, 0, **fields)  # type: ignore[arg-type]


def student(**fields: object) -> StudentFacts:
    return StudentFacts(7, windows=(OPEN,), **fields)  # type: ignore[arg-type]


# windows: the most specific audience wins


def test_a_time_ticket_is_used_before_the_group_the_cohort_and_everyone() -> None:
    everyone = RegistrationWindow(1, 2, 3)
    cohort = RegistrationWindow(4, 5, 6, cohort=2024)
    group = RegistrationWindow(7, 8, 9, priority_group="final")
    ticket = RegistrationWindow(10, 11, 12, student_id=7)
    other = RegistrationWindow(13, 14, 15, student_id=8)
    every = (everyone, cohort, group, ticket, other)
    assert applicable(every, 2024, 7, "final") == (ticket,)
    assert applicable(every, 2024, 9, "final") == (group,)
    assert applicable(every, 2024, 9, None) == (cohort,)
    assert applicable(every, 2024, 9, "other-group") == (cohort,)
    assert applicable(every, 2030, 9, None) == (everyone,)
    assert applicable(every, None, None, None) == (everyone,)


def test_a_ticket_lets_one_student_in_before_their_cohort() -> None:
    cohort_later = RegistrationWindow(NOW + 3600, NOW + 7200, NOW + 7200, cohort=2024)
    early = RegistrationWindow(NOW - 60, NOW + 7200, NOW + 7200, student_id=7)
    windows = (cohort_later, early)
    assert window_refusal(applicable(windows, 2024, 7), "enroll", NOW) is None
    refused = window_refusal(applicable(windows, 2024, 8), "enroll", NOW)
    assert refused is not None
    assert refused.type == "window-closed"


def test_a_closed_window_says_when_the_students_next_window_opens() -> None:
    refused = window_refusal((LATER, RegistrationWindow(NOW + 99_999, NOW + 199_999, NOW + 199_999)), "enroll", NOW)
    assert refused is not None
    assert refused.opens_at == LATER.opens_at
    assert refused.opens_at_text == "2027-01-15T09:00:00+00:00"  # ISO 8601 with its offset
    assert refused.opens_at_text in refused.reason
    ended = window_refusal((RegistrationWindow(NOW - 99, NOW - 9, NOW - 9),), "enroll", NOW)
    assert ended is not None
    assert ended.opens_at is None
    assert "no window of yours opens" in ended.reason
    decision = eligibility(StudentFacts(7, windows=(LATER,)), course(), Permit(), RULES, NOW)
    assert decision is not None
    assert decision.type == "window-closed"
    assert decision.details == {"opens_at": "2027-01-15T09:00:00+00:00"}


# corequisites


def test_a_corequisite_must_be_enrolled_in_or_completed() -> None:
    lab = course("PHYS101L", corequisites=frozenset({"PHYS101"}))
    alone = decide_enroll(student(), lab, Permit(), RULES, NOW)
    assert (alone.type, alone.details) == ("corequisites-missing", {"corequisites": ["PHYS101"]})
    assert "enroll in PHYS101 first" in alone.reason
    lecture = CourseFacts(2, "PHYS101", 3, 10, 0)
    assert decide_enroll(student(enrolled=(lecture,)), lab, Permit(), RULES, NOW).outcome == "accepted"
    assert decide_enroll(student(completed=frozenset({"PHYS101"})), lab, Permit(), RULES, NOW).outcome == "accepted"
    swapped_away = decide_enroll(student(enrolled=(lecture,)), lab, Permit(), RULES, NOW, dropping=frozenset({2}))
    assert swapped_away.type == "corequisites-missing"  # a swap giving the lecture up cannot add its lab
    skipped = decide_enroll(student(), lab, Permit(), RULES, NOW, overrides=frozenset({"corequisites"}))
    assert skipped.outcome == "accepted"


def test_dropping_a_corequisite_of_an_enrolled_course_is_allowed() -> None:
    """The chosen rule: corequisites are checked when enrolling; a drop is the student's own."""
    lecture, lab = CourseFacts(2, "PHYS101", 3, 10, 0), course("PHYS101L", corequisites=frozenset({"PHYS101"}))
    assert decide_drop(student(enrolled=(lecture, lab)), 2, NOW).outcome == "accepted"


# restrictions


@pytest.mark.parametrize(
    ("kind", "allowed", "standing", "ok"),
    [
        ("program", {"CS", "SE"}, Standing(program="CS"), True),
        ("program", {"CS", "SE"}, Standing(program="EE"), False),
        ("program", {"CS"}, Standing(), False),
        ("year", {"3", "4"}, Standing(year=4), True),
        ("year", {"3", "4"}, Standing(year=1), False),
        ("cohort", {"2024"}, Standing(cohort=2024), True),
        ("cohort", {"2024"}, Standing(cohort=2025), False),
    ],
)
def test_a_restriction_admits_only_the_programs_years_or_cohorts_it_lists(
    kind: str, allowed: set[str], standing: Standing, ok: bool
) -> None:
    restricted = course(restrictions=((kind, frozenset(allowed)),))
    decision = decide_enroll(student(standing=standing), restricted, Permit(), RULES, NOW)
    if ok:
        assert decision.outcome == "accepted"
        return
    assert decision.type == "restricted"
    assert decision.details == {"restriction": kind, "allowed": sorted(allowed)}
    assert "a registrar may enroll you past it" in decision.reason
    skipped = decide_enroll(student(standing=standing), restricted, Permit(), RULES, NOW, overrides={"restrictions"})  # type: ignore[arg-type]
    assert skipped.outcome == "accepted"


def test_every_restriction_must_be_met() -> None:
    both = course(restrictions=(("program", frozenset({"CS"})), ("year", frozenset({"4"}))))
    assert decide_enroll(student(standing=Standing(program="CS", year=4)), both, Permit(), RULES, NOW).ok
    third_year = decide_enroll(student(standing=Standing(program="CS", year=3)), both, Permit(), RULES, NOW)
    assert (third_year.type, third_year.details["restriction"]) == ("restricted", "year")


# instructor consent


def test_a_consent_course_needs_the_teachers_consent_permit() -> None:
    seminar = course("CS590", consent_required=True, teacher_name="Grace Hopper")
    refused = decide_enroll(student(), seminar, Permit(), RULES, NOW)
    assert (refused.type, refused.details) == ("consent-required", {"permit": "consent"})
    assert "ask the teacher (Grace Hopper) for a consent permit" in refused.reason
    assert decide_enroll(student(), seminar, Permit(capacity=True), RULES, NOW).type == "consent-required"
    assert decide_enroll(student(), seminar, Permit(consent=True), RULES, NOW).outcome == "accepted"
    assert decide_enroll(student(), seminar, Permit(), RULES, NOW, overrides=frozenset({"consent"})).ok


def test_the_new_rules_can_be_named_as_desk_overrides() -> None:
    assert {"corequisites", "restrictions", "consent"} <= set(OVERRIDES)


def test_a_hold_still_comes_before_the_new_rules() -> None:
    everything = course(
        consent_required=True, corequisites=frozenset({"X1"}), restrictions=(("year", frozenset({"4"})),)
    )
    held = decide_enroll(student(holds=("fees",)), everything, Permit(), RULES, NOW, overrides=frozenset(OVERRIDES))
    assert held.type == "hold"
