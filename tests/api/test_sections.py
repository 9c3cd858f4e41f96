"""Sections through course_data's API: an offering's sections created and read, taken one of
each kind together (the ledger's group route, as the student service calls it), waitlisted
and promoted whole, swapped section to section, refused with a type naming what is missing,
edited (section, kind, link); on SQLite and MariaDB."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.registrar_kit import Node, course_data_on, job_outcome


@pytest.fixture(params=["sqlite", "mariadb"])
def node(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> Iterator[Node]:
    with course_data_on(request, tmp_path, redis_url) as made:
        yield made


def at(weekday: int, start: str, end: str) -> list[dict[str, Any]]:
    return [{"weekday": weekday, "start": start, "end": end}]


def make(node: Node, code: str, **fields: Any) -> dict[str, Any]:
    body = {"code": code, "title": f"Course {code}", "credits": 3, "capacity": 2, **fields}
    answer = node.client.post("/courses", json=body, headers=node.auth("admin"))
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def offering(node: Node) -> dict[str, int]:
    """BIO1: lectures L01 (Mon 9) and L02 (Tue 9, one seat); labs B01 (Wed 14, only with L01, one
    seat) and B02 (Thu 14)."""
    made = {"L01": make(node, "BIO1", section="L01", meetings=at(0, "09:00", "10:00"))["id"]}
    made["L02"] = make(node, "BIO1", section="L02", capacity=1, meetings=at(1, "09:00", "10:00"))["id"]
    made["B01"] = make(
        node, "BIO1", section="B01", kind="lab", capacity=1, linked_to=made["L01"], meetings=at(2, "14:00", "16:00")
    )["id"]
    made["B02"] = make(node, "BIO1", section="B02", kind="lab", meetings=at(3, "14:00", "16:00"))["id"]
    return made


def ledger(node: Node, action: str, student: int, course_id: int, drop: int | None = None) -> dict[str, Any]:
    body = {"action": action, "student_id": student, "course_id": course_id, "drop_course_id": drop, "actor": "t"}
    answer = node.client.post("/internal/ledger", json=body, headers=node.internal())
    assert answer.status_code == 200, answer.text
    decided: dict[str, Any] = answer.json()
    return decided


def group(node: Node, student: int, sections: list[int], drop: list[int] | None = None) -> dict[str, Any]:
    body = {"student_id": student, "section_ids": sections, "drop_course_ids": drop or [], "actor": "t"}
    answer = node.client.post("/internal/ledger/group", json=body, headers=node.internal())
    assert answer.status_code == 200, answer.text
    decided: dict[str, Any] = answer.json()
    return decided


def seats(node: Node, course_id: int) -> int:
    taken: int = node.client.get(f"/courses/{course_id}", headers=node.auth("admin")).json()["taken"]
    return taken


def open_window(node: Node) -> None:
    now = time.time()
    windows = {"windows": [{"opens_at": now - 10, "closes_at": now + 600, "drop_deadline": now + 600}]}
    answer = node.client.put("/windows", json=windows, headers=node.auth("admin"))
    assert answer.status_code == 200, answer.text


def test_sections_are_created_and_read_with_their_offering(node: Node) -> None:
    ids = offering(node)
    plain = make(node, "CHEM1")  # one section: the course looks as it did
    assert (plain["section"], plain["kind"], plain["linked_to"]) == ("", "lecture", None)
    assert [s["id"] for s in plain["sections"]] == [plain["id"]]
    lab = node.client.get(f"/courses/{ids['B01']}", headers=node.auth("student", 5)).json()
    assert (lab["code"], lab["section"], lab["kind"], lab["linked_to"]) == ("BIO1", "B01", "lab", ids["L01"])
    assert [(s["section"], s["kind"]) for s in lab["sections"]] == [
        ("B01", "lab"),
        ("B02", "lab"),
        ("L01", "lecture"),
        ("L02", "lecture"),
    ]
    listed = node.client.get("/courses?q=bio1", headers=node.auth("student", 5)).json()["items"]
    assert [c["section"] for c in listed] == ["B01", "B02", "L01", "L02"]
    again = node.client.post(
        "/courses",
        json={"code": "BIO1", "section": "L01", "title": "x", "credits": 3, "capacity": 1},
        headers=node.auth("admin"),
    )
    assert again.status_code == 409  # a section is unique in its offering
    elsewhere = node.client.post(
        "/courses",
        json={
            "code": "CHEM1",
            "section": "B09",
            "title": "x",
            "credits": 3,
            "capacity": 1,
            "kind": "lab",
            "linked_to": ids["L01"],
        },
        headers=node.auth("admin"),
    )
    assert elsewhere.status_code == 422  # linked only within its own offering
    assert "linked_to" in elsewhere.text


def test_a_group_is_taken_whole_and_a_missing_kind_is_named(node: Node) -> None:
    open_window(node)
    ids = offering(node)
    alone = ledger(node, "enroll", 7, ids["L01"])
    assert (alone["outcome"], alone["type"]) == ("rejected", "section-required")
    assert alone["missing_kinds"] == ["lab"]
    assert "requires a lab section" in alone["reason"]
    unlinked = group(node, 7, [ids["L02"], ids["B01"]])  # B01 is L01's lab
    assert (unlinked["outcome"], unlinked["type"]) == ("rejected", "section-not-linked")
    two_labs = group(node, 7, [ids["B01"], ids["B02"]])
    assert two_labs["type"] in ("section-kind-held", "section-required")
    taken = group(node, 7, [ids["L01"], ids["B01"]])
    assert taken["outcome"] == "accepted", taken
    assert (seats(node, ids["L01"]), seats(node, ids["B01"])) == (1, 1)
    full = group(node, 8, [ids["L01"], ids["B01"]])  # B01 has one seat: the group waits whole
    assert (full["outcome"], full["waitlist_positions"]) == ("waitlisted", [{"section_id": ids["B01"], "position": 1}])
    assert seats(node, ids["L01"]) == 1  # the lecture's seat was not taken either
    held = ledger(node, "enroll", 7, ids["B02"])  # a second lab is a swap, not an enrollment
    assert held["type"] == "section-kind-held"


def waiting(node: Node, student: int) -> list[tuple[str, int]]:
    mine = node.client.get(f"/internal/students/{student}/courses", headers=node.internal()).json()
    return sorted((c["section"], c["position"]) for c in mine["waitlisted"])


def held(node: Node, student: int) -> list[str]:
    mine = node.client.get(f"/internal/students/{student}/courses", headers=node.internal()).json()
    return sorted(c["section"] for c in mine["enrolled"])


def test_a_group_waits_on_its_full_sections_and_is_promoted_whole(node: Node) -> None:
    open_window(node)
    ids = offering(node)
    assert group(node, 7, [ids["L01"], ids["B01"]])["outcome"] == "accepted"
    assert group(node, 10, [ids["L01"], ids["B02"]])["outcome"] == "accepted"  # L01 (two seats) is full
    wait = group(node, 8, [ids["L01"], ids["B01"]])
    assert (wait["outcome"], wait["waitlist_position"]) == ("waitlisted", 1), wait
    assert wait["waitlist_positions"] == [
        {"section_id": ids["L01"], "position": 1},
        {"section_id": ids["B01"], "position": 1},
    ]
    assert waiting(node, 8) == [("B01", 1), ("L01", 1)]
    assert group(node, 9, [ids["L01"], ids["B01"]])["waitlist_positions"][1] == {
        "section_id": ids["B01"],
        "position": 2,
    }
    again = group(node, 8, [ids["L01"], ids["B02"]])  # one waiting group per offering
    assert (again["type"], again["section_id"]) == ("already-waitlisted", ids["L01"])
    assert ledger(node, "drop", 10, ids["L01"])["outcome"] == "accepted"  # L01 frees, B01 is still full:
    assert waiting(node, 8) == [("B01", 1), ("L01", 1)]  # the group keeps waiting, nothing taken in part
    assert (seats(node, ids["L01"]), held(node, 8)) == (1, [])
    assert ledger(node, "drop", 7, ids["B01"])["outcome"] == "accepted"  # B01 frees (and L01 with it)
    assert held(node, 8) == ["B01", "L01"]  # the whole group at once
    assert waiting(node, 8) == []
    assert waiting(node, 9) == [("B01", 1), ("L01", 1)]
    assert [seats(node, ids[s]) for s in ("L01", "B01", "B02")] == [1, 1, 0]
    assert ledger(node, "drop", 9, ids["B01"])["outcome"] == "accepted"  # leaving: the group's rows go together
    assert waiting(node, 9) == []
    swap_into_full = group(node, 8, [ids["L02"], ids["B02"]], drop=[ids["L01"], ids["B01"]])
    assert swap_into_full["outcome"] == "accepted"  # (L02 had a seat)
    assert group(node, 11, [ids["L02"], ids["B02"]], drop=[])["outcome"] == "waitlisted"  # L02 full now


def test_a_waiting_group_is_promoted_when_the_last_seat_it_lacks_frees(node: Node) -> None:
    """The group waits on B01 only (L01 had a seat); L01 fills, B01 frees while L01 is full (the
    group keeps waiting), then a seat of L01 frees: the group waiting on B01 is served then."""
    open_window(node)
    ids = offering(node)
    assert group(node, 7, [ids["L01"], ids["B01"]])["outcome"] == "accepted"
    assert group(node, 8, [ids["L01"], ids["B01"]])["waitlist_positions"] == [{"section_id": ids["B01"], "position": 1}]
    assert group(node, 10, [ids["L01"], ids["B02"]])["outcome"] == "accepted"  # L01 is full
    assert ledger(node, "swap", 7, ids["B02"], drop=ids["B01"])["outcome"] == "accepted"  # B01 frees
    assert (waiting(node, 8), seats(node, ids["B01"])) == ([("B01", 1)], 0)  # L01 is full: it waits
    assert ledger(node, "drop", 10, ids["L01"])["outcome"] == "accepted"  # L01's seat frees
    assert (held(node, 8), waiting(node, 8)) == (["B01", "L01"], [])


def test_sections_freed_together_serve_their_waitlists_first_come_first_served(node: Node) -> None:
    """A drop frees L01 and B01 at once. Student 21 waited first, on B01 alone (L01 had a seat
    then); student 23 waited later, on both. Serving L01's waitlist before B01's would hand both
    seats to 23 and skip 21 on B01: the waitlists are served in the order students joined them."""
    open_window(node)
    ids = offering(node)
    assert group(node, 20, [ids["L01"], ids["B01"]])["outcome"] == "accepted"
    first = group(node, 21, [ids["L01"], ids["B01"]])
    assert first["waitlist_positions"] == [{"section_id": ids["B01"], "position": 1}]
    assert group(node, 22, [ids["L01"], ids["B02"]])["outcome"] == "accepted"  # L01 is full now
    later = group(node, 23, [ids["L01"], ids["B01"]])
    assert later["waitlist_positions"] == [
        {"section_id": ids["L01"], "position": 1},
        {"section_id": ids["B01"], "position": 2},
    ]
    assert ledger(node, "drop", 20, ids["L01"])["outcome"] == "accepted"  # B01 is given up with it
    assert (held(node, 21), waiting(node, 21)) == (["B01", "L01"], [])
    assert (held(node, 23), waiting(node, 23)) == ([], [("B01", 1), ("L01", 1)])
    assert [seats(node, ids[s]) for s in ("L01", "B01")] == [2, 1]


def test_deleting_a_section_ends_the_groups_waiting_for_it(node: Node) -> None:
    open_window(node)
    ids = offering(node)
    assert group(node, 7, [ids["L02"], ids["B02"]])["outcome"] == "accepted"  # L02 (one seat) is full
    spare = make(node, "BIO1", section="B09", kind="lab")["id"]
    assert group(node, 8, [ids["L02"], spare])["waitlist_positions"] == [{"section_id": ids["L02"], "position": 1}]
    assert node.client.delete(f"/courses/{spare}", headers=node.auth("admin")).status_code == 204
    assert waiting(node, 8) == []  # (its row on L02 named B09: it could never be taken whole)


def test_section_to_section_swaps_and_a_drop_gives_up_the_offering(node: Node) -> None:
    open_window(node)
    ids = offering(node)
    assert group(node, 7, [ids["L01"], ids["B01"]])["outcome"] == "accepted"
    elsewhere = make(node, "ART1")
    away = ledger(node, "swap", 7, elsewhere["id"], drop=ids["L01"])  # would leave the lab alone
    assert (away["type"], away["missing_kinds"]) == ("section-required", ["lecture"])
    linked = ledger(node, "swap", 7, ids["L02"], drop=ids["L01"])  # B01 needs L01
    assert linked["type"] == "section-not-linked"
    assert ledger(node, "swap", 7, ids["B02"], drop=ids["B01"])["outcome"] == "accepted"  # lab to lab
    assert ledger(node, "swap", 7, ids["L02"], drop=ids["L01"])["outcome"] == "accepted"  # lecture to lecture
    assert [seats(node, ids[s]) for s in ("L01", "L02", "B01", "B02")] == [0, 1, 0, 1]
    both = group(node, 7, [ids["L01"], ids["B01"]], drop=[ids["L02"], ids["B02"]])  # a group swap
    assert both["outcome"] == "accepted", both
    assert [seats(node, ids[s]) for s in ("L01", "L02", "B01", "B02")] == [1, 0, 1, 0]
    assert ledger(node, "drop", 7, ids["L01"])["outcome"] == "accepted"  # drops the lab with it
    assert [seats(node, ids[s]) for s in ("L01", "B01")] == [0, 0]


def patch(node: Node, course_id: int, **fields: Any) -> Any:
    return node.client.patch(f"/courses/{course_id}", json=fields, headers=node.auth("admin", 1, name="registrar"))


def refused_field(answer: Any) -> str:
    assert answer.status_code == 422, answer.text
    field: str = answer.json()["errors"][0]["field"]
    return field


def test_a_sections_name_kind_and_link_are_changed_with_their_checks(node: Node) -> None:
    open_window(node)
    ids = offering(node)
    other = make(node, "CHEM1")["id"]
    spring = {"code": "2027-spring", "starts_on": "2027-01-10", "ends_on": "2027-05-10"}
    assert node.client.post("/terms", json=spring, headers=node.auth("admin")).status_code == 201
    later = make(node, "BIO1", section="L01", term="2027-spring")["id"]
    assert refused_field(patch(node, ids["B02"], linked_to=999_999)) == "linked_to"  # no such course
    assert refused_field(patch(node, ids["B02"], linked_to=ids["B02"])) == "linked_to"  # itself
    assert refused_field(patch(node, ids["B02"], linked_to=other)) == "linked_to"  # another code
    assert refused_field(patch(node, ids["B02"], linked_to=later)) == "linked_to"  # another term
    assert refused_field(patch(node, ids["B02"], linked_to=ids["B01"])) == "linked_to"  # a lab too
    assert refused_field(patch(node, ids["L01"], kind="lab")) == "kind"  # lab B01 is linked to it
    assert refused_field(patch(node, ids["L01"], section=None)) == "section"
    taken = patch(node, ids["B02"], section="B01")
    assert (taken.status_code, taken.json()["type"]) == (409, "/problems/conflict")
    linked = patch(node, ids["B02"], linked_to=ids["L02"], section="B03")
    assert linked.status_code == 200, linked.text
    assert (linked.json()["section"], linked.json()["linked_to"]) == ("B03", ids["L02"])

    assert group(node, 7, [ids["L01"], ids["B01"]])["outcome"] == "accepted"
    breaking = patch(node, ids["B01"], linked_to=ids["L02"])  # student 7 holds B01 with L01
    assert breaking.status_code == 409, breaking.text
    assert breaking.json()["students"] == [7]
    assert "nothing was changed" in breaking.json()["detail"]
    assert node.client.get(f"/courses/{ids['B01']}", headers=node.auth("admin")).json()["linked_to"] == ids["L01"]
    assert patch(node, ids["B01"], kind="tutorial").status_code == 409  # 7 would lack a lab (and hold a tutorial)
    assert patch(node, ids["B01"], linked_to=None).status_code == 200  # unlinking breaks no group
    trail = node.client.get("/audit?page_size=100", headers=node.auth("admin")).json()["items"]
    edits = [r["reason"] for r in trail if r["action"] == "course-update"]
    assert edits[:2] == ["changed: linked_to", "changed: linked_to, section"]


def test_a_patch_that_would_strand_a_waiting_group_is_refused(node: Node) -> None:
    """Student 8 waits for L02 + B02 (L02 is full). Linking B02 to L01 would make that group one
    the section rule refuses, so it could never be promoted: 409 naming student 8, nothing
    changed. Student 7 holds L02 + B03 and is not concerned."""
    open_window(node)
    ids = offering(node)
    spare = make(node, "BIO1", section="B03", kind="lab", meetings=at(4, "14:00", "16:00"))["id"]
    assert group(node, 7, [ids["L02"], spare])["outcome"] == "accepted"  # L02 (one seat) is full
    assert group(node, 8, [ids["L02"], ids["B02"]])["outcome"] == "waitlisted"
    stranding = patch(node, ids["B02"], linked_to=ids["L01"])
    assert stranding.status_code == 409, stranding.text
    assert stranding.json()["students"] == [8]
    assert "wait for" in stranding.json()["detail"]
    assert node.client.get(f"/courses/{ids['B02']}", headers=node.auth("admin")).json()["linked_to"] is None
    kind = patch(node, ids["B02"], kind="tutorial")  # 8 would lack a lab, 7 (L02 + B03) a tutorial
    assert (kind.status_code, kind.json()["students"]) == (409, [7, 8])
    assert patch(node, ids["B02"], section="B04").status_code == 200  # a new name strands nobody
    assert waiting(node, 8) == [("L02", 1)]


def test_a_section_of_a_new_kind_that_would_strand_a_single_waiter_is_refused(node: Node) -> None:
    """CHEM2 has lectures only; student 8 waits for L01 alone. Making L02 a lab, or adding a lab,
    would make L01 alone a group the section rule refuses (no lab): 409 naming student 8, and
    the lab is not created. Student 7, holding L01, is named too."""
    open_window(node)
    first = make(node, "CHEM2", section="L01", capacity=1)["id"]
    second = make(node, "CHEM2", section="L02")["id"]
    assert ledger(node, "enroll", 7, first)["outcome"] == "accepted"
    assert ledger(node, "enroll", 8, first)["outcome"] == "waitlisted"
    kind = patch(node, second, kind="lab")
    assert (kind.status_code, kind.json()["students"]) == (409, [7, 8]), kind.text
    body = {"code": "CHEM2", "section": "B01", "kind": "lab", "title": "Lab", "credits": 3, "capacity": 2}
    added = node.client.post("/courses", json=body, headers=node.auth("admin"))
    assert (added.status_code, added.json()["students"]) == (409, [7, 8]), added.text
    sections = node.client.get(f"/courses/{first}", headers=node.auth("admin")).json()["sections"]
    assert sorted(s["section"] for s in sections) == ["L01", "L02"]  # (nothing created)
    assert patch(node, first, capacity=2).status_code == 200  # and the waiter is promoted
    assert (held(node, 8), waiting(node, 8)) == (["L01"], [])


def test_a_student_waits_for_one_section_of_a_kind_at_a_time(node: Node) -> None:
    """CHEM3 has two one-seat lectures, both full. Student 8 waits for L01; asking for L02 too is
    refused (already-waitlisted, naming L01): promoted into L01, 8 would keep a place on L02's
    waitlist that could never be served, ahead of students who can be."""
    open_window(node)
    first = make(node, "CHEM3", section="L01", capacity=1)["id"]
    second = make(node, "CHEM3", section="L02", capacity=1)["id"]
    assert ledger(node, "enroll", 7, first)["outcome"] == "accepted"
    assert ledger(node, "enroll", 9, second)["outcome"] == "accepted"
    assert ledger(node, "enroll", 8, first)["outcome"] == "waitlisted"
    again = ledger(node, "enroll", 8, second)
    assert (again["outcome"], again["type"], again["section_id"]) == ("rejected", "already-waitlisted", first), again
    assert ledger(node, "enroll", 10, second)["waitlist_position"] == 1
    assert ledger(node, "drop", 7, first)["outcome"] == "accepted"
    assert (held(node, 8), waiting(node, 8)) == (["L01"], [])


def test_sections_conflict_in_time_and_the_offering_counts_once(node: Node) -> None:
    open_window(node)
    ids = offering(node)
    other = make(node, "MATH1", meetings=at(3, "15:00", "16:00"))  # meets during lab B02
    assert ledger(node, "enroll", 9, other["id"])["outcome"] == "accepted"
    clash = group(node, 9, [ids["L01"], ids["B02"]])
    assert (clash["type"], clash["conflicts"]) == ("time-conflict", ["MATH1"])
    inside = make(node, "PHYS1", section="L01", meetings=at(0, "09:00", "10:00"))
    lab = make(node, "PHYS1", section="B01", kind="lab", meetings=at(0, "09:30", "10:30"))
    clash_within = group(node, 9, [inside["id"], lab["id"]])  # a group's own sections clash
    assert clash_within["type"] == "time-conflict"
    assert group(node, 9, [ids["L01"], ids["B01"]])["outcome"] == "accepted"
    mine = node.client.get("/internal/students/9/courses", headers=node.internal()).json()
    assert sorted(c["code"] for c in mine["enrolled"]) == ["BIO1", "BIO1", "MATH1"]


def test_the_course_import_takes_sections(node: Node) -> None:
    admin = node.auth("admin")
    text = (
        "code,title,credits,capacity,section,kind\n"
        "GEO1,Geology,3,30,L01,lecture\n"
        "GEO1,Geology lab,3,10,B01,lab\n"
        "GEO1,Again,3,10,B01,lab\n"
    )
    headers = {**admin, "content-type": "text/csv"}

    def upload(body: str) -> dict[str, Any]:
        return job_outcome(node.client, node.client.post("/courses/import", content=body, headers=headers), admin)

    refused = upload(text)
    assert [(e["line"], e["field"]) for e in refused["errors"]] == [(4, "code")]  # repeats line 3
    created = upload(text.rsplit("GEO1,Again", 1)[0])
    assert created["status"] == "succeeded", created
    assert sorted(created["result"]["ids"]) == ["GEO1 B01", "GEO1 L01"]
    lab = node.client.get(f"/courses/{created['result']['ids']['GEO1 B01']}", headers=admin).json()
    assert (lab["section"], lab["kind"], lab["capacity"]) == ("B01", "lab", 10)


def test_an_import_of_a_section_that_would_strand_a_holder_is_refused_whole(node: Node) -> None:
    """CHEM4 has one lecture, which student 7 holds. An import adding a lab to CHEM4 (and a new
    course) would leave 7 without a lab: the lab's line is named, and neither row is created."""
    open_window(node)
    lecture = make(node, "CHEM4", section="L01")["id"]
    assert ledger(node, "enroll", 7, lecture)["outcome"] == "accepted"
    admin = node.auth("admin")
    text = "code,title,credits,capacity,section,kind\nPHYS9,Physics,3,30,,lecture\nCHEM4,Lab,3,10,B01,lab\n"
    upload = node.client.post("/courses/import", content=text, headers={**admin, "content-type": "text/csv"})
    refused = job_outcome(node.client, upload, admin)
    assert refused["status"] == "failed", refused
    assert [(e["line"], e["field"]) for e in refused["errors"]] == [(3, "section")]
    assert "would no longer fit together" in refused["errors"][0]["reason"]
    listed = node.client.get("/courses?q=PHYS9", headers=admin).json()["items"]
    assert listed == []  # (nothing created)
    sections = node.client.get(f"/courses/{lecture}", headers=admin).json()["sections"]
    assert [s["section"] for s in sections] == ["L01"]
