"""The rules per term, as pure functions: limits and clashes count the course's own term, the
window rule picks that term's windows (the cohort rule within each term), and admission,
which knows no term, counts a window of any term."""

from __future__ import annotations

from cluster.settings import CourseSettings
from services.common.registration import RegistrationWindow, applicable, window_refusal
from services.course_data.rules import CourseFacts, Meeting, Permit, StudentFacts, decide_drop, decide_enroll

NOW = 1000.0
OPEN = (NOW - 10, NOW + 10, NOW + 10)
CLOSED = (NOW - 20, NOW - 10, NOW - 10)
MONDAY = (Meeting(0, 540, 600),)


def course(cid: int, term: int, credits: int = 10, **fields: object) -> CourseFacts:
    return CourseFacts(cid, f"C{cid}", credits, 10, 0, MONDAY, term_id=term, **fields)  # type: ignore[arg-type]


def test_the_cohort_rule_applies_within_each_term() -> None:
    windows = [
        RegistrationWindow(*OPEN, cohort=2024, term_id=1),
        RegistrationWindow(*CLOSED, cohort=None, term_id=1),
        RegistrationWindow(*CLOSED, cohort=None, term_id=2),
    ]
    mine = applicable(windows, 2024)
    assert [(w.cohort, w.term_id) for w in mine] == [(2024, 1), (None, 2)]  # term 2 has no window of 2024
    assert window_refusal(mine, "enroll", NOW, term_id=1) is None
    assert window_refusal(mine, "enroll", NOW, term_id=2) is not None
    assert window_refusal(mine, "enroll", NOW) is None  # admission: a window of some term is open


def test_limits_and_clashes_count_only_the_courses_own_term() -> None:
    rules = CourseSettings(max_credits=24)
    windows = (RegistrationWindow(*OPEN, term_id=1), RegistrationWindow(*OPEN, term_id=2))
    student = StudentFacts(1, enrolled=(course(1, term=1, credits=20),), windows=windows)
    assert decide_enroll(student, course(2, term=2, credits=20), Permit(), rules, NOW).outcome == "accepted"
    same_term = decide_enroll(student, course(3, term=1, credits=1), Permit(), rules, NOW)
    assert same_term.type == "time-conflict"
    heavy = CourseFacts(4, "C4", 5, 10, 0, (), term_id=1)
    assert decide_enroll(student, heavy, Permit(), rules, NOW).type == "credit-limit"


def test_a_terms_drop_deadline_ends_dropping_and_the_desk_may_skip_it() -> None:
    held = course(1, term=1, drop_deadline=NOW - 1)
    student = StudentFacts(1, enrolled=(held,), windows=(RegistrationWindow(*OPEN, term_id=1),))
    assert decide_drop(student, 1, NOW).type == "drop-deadline"
    assert decide_drop(student, 1, NOW, frozenset({"drop-deadline"})).outcome == "accepted"
    assert decide_drop(student, 1, NOW - 5).outcome == "accepted"
