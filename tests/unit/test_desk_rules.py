"""The desk's named overrides (each skips exactly its own rule) and the one CSV writer."""

from __future__ import annotations

import csv
import io

import pytest

from cluster.settings import CourseSettings
from services.common.csv_out import csv_text, neutral, roster_csv
from services.course_data.rules import (
    OVERRIDES,
    CourseFacts,
    Meeting,
    Permit,
    RegistrationWindow,
    StudentFacts,
    decide_drop,
    decide_enroll,
)

NOW = 1000.0
OPEN = RegistrationWindow(NOW - 10, NOW + 10, NOW + 20)
CLOSED = RegistrationWindow(NOW + 100, NOW + 200, NOW + 300)
RULES = CourseSettings(max_credits=10, max_courses=2)
MONDAY_9 = (Meeting(0, 540, 600),)


def _enrolled(
    *courses: CourseFacts, windows: tuple[RegistrationWindow, ...] = (OPEN,), **extra: object
) -> StudentFacts:
    return StudentFacts(1, enrolled=courses, windows=windows, **extra)  # type: ignore[arg-type]


def course(cid: int, **fields: object) -> CourseFacts:
    values: dict[str, object] = {"code": f"C{cid}", "credits": 3, "capacity": 5, "taken": 0, **fields}
    return CourseFacts(cid, **values)  # type: ignore[arg-type]


# One scenario per override: the student and the course break that rule and no other.
ENROLL_CASES = {
    "capacity": (_enrolled(), course(9, capacity=1, taken=1), "waitlisted"),
    "prerequisites": (_enrolled(), course(9, prerequisites=frozenset({"C0"})), "prerequisites-missing"),
    "time-conflict": (_enrolled(course(2, meetings=MONDAY_9)), course(9, meetings=MONDAY_9), "time-conflict"),
    "credit-load": (_enrolled(course(2, credits=8)), course(9, credits=3), "credit-limit"),
    "window": (_enrolled(windows=(CLOSED,)), course(9), "window-closed"),
}


@pytest.mark.parametrize("name", sorted(ENROLL_CASES))
def test_each_enroll_override_skips_exactly_its_rule(name: str) -> None:
    student, target, refused_as = ENROLL_CASES[name]
    plain = decide_enroll(student, target, Permit(), RULES, NOW)
    assert (plain.type or plain.outcome) == refused_as
    others = frozenset(OVERRIDES) - {name}
    still = decide_enroll(student, target, Permit(), RULES, NOW, overrides=others)
    assert (still.type or still.outcome) == refused_as, f"{sorted(others)} must not skip {name}"
    skipped = decide_enroll(student, target, Permit(), RULES, NOW, overrides=frozenset({name}))
    assert skipped.outcome == "accepted", skipped
    assert skipped.via_permit == (name == "capacity")  # past capacity: the seat guard is not applied


def test_credit_load_also_covers_the_course_count() -> None:
    student = _enrolled(course(2, credits=1), course(3, credits=1))
    assert decide_enroll(student, course(9, credits=1), Permit(), RULES, NOW).type == "too-many-courses"
    load = frozenset({"credit-load"})
    assert decide_enroll(student, course(9, credits=1), Permit(), RULES, NOW, overrides=load).outcome == "accepted"


def test_a_hold_is_never_overridden() -> None:
    student = _enrolled(holds=("unpaid fees",))
    assert decide_enroll(student, course(9), Permit(), RULES, NOW, overrides=frozenset(OVERRIDES)).type == "hold"


def test_the_drop_deadline_override_skips_only_the_deadline() -> None:
    late = RegistrationWindow(NOW - 100, NOW - 50, NOW - 10)
    student = _enrolled(course(2), windows=(late,))
    assert decide_drop(student, 2, NOW).type == "drop-deadline"
    others = frozenset(OVERRIDES) - {"drop-deadline"}
    assert decide_drop(student, 2, NOW, others).type == "drop-deadline"
    assert decide_drop(student, 2, NOW, frozenset({"drop-deadline"})).ok
    assert decide_drop(student, 7, NOW, frozenset(OVERRIDES)).type == "not-enrolled"


@pytest.mark.parametrize("cell", ["=cmd()", "+1+1", "-2+3", "@SUM(A1)", "\t=x", "\r=x"])
def test_formula_cells_are_neutralized(cell: str) -> None:
    assert neutral(cell) == "'" + cell
    text = csv_text(["name"], [[cell]])
    assert list(csv.reader(io.StringIO(text))) == [["name"], ["'" + cell]]


def test_other_cells_are_written_as_they_are() -> None:
    text = csv_text(["a", "b", "c", "d"], [['Ada, "the" first', -3, 2.5, "a=b"]])
    assert list(csv.reader(io.StringIO(text))) == [["a", "b", "c", "d"], ['Ada, "the" first', "-3", "2.5", "a=b"]]


def test_a_roster_csv_lists_the_waitlist_in_order_and_neutralizes_names() -> None:
    roster = {
        "course": {"code": "CS101"},
        "students": [
            {"student_id": 5, "student_number": "S5", "full_name": "=cmd()", "email": "e@x", "enrolled_at": 0.0}
        ],
        "waitlist": [
            {"position": 1, "student_id": 7, "student_number": "S7", "full_name": "B", "email": "", "joined_at": 1.0},
            {"position": 2, "student_id": 6, "student_number": "S6", "full_name": "A", "email": "", "joined_at": 2.0},
        ],
    }
    rows = list(csv.DictReader(io.StringIO(roster_csv(roster))))
    assert [(r["list"], r["position"], r["student_number"]) for r in rows] == [
        ("enrolled", "1", "S5"),
        ("waitlist", "1", "S7"),
        ("waitlist", "2", "S6"),
    ]
    assert rows[0]["full_name"] == "'=cmd()"
    assert rows[0]["since"] == "1970-01-01T00:00:00+00:00"


def test_every_csv_the_system_writes_goes_through_the_one_writer() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "services"
    writers = sorted(
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if "csv.writer(" in p.read_text() or "DictWriter" in p.read_text()
    )
    assert writers == ["common/csv_out.py"]
