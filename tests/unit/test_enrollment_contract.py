"""The enrollment contracts: every side speaks them, the Lua scripts use their names, and the
answers built on the hot paths are what the models (the OpenAPI schemas) say."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from redis.asyncio import Redis

from services.common.enrollment_contract import (
    ENTRY_FIELDS,
    RECORD_FIELDS,
    BatchAnswer,
    EnrollmentChange,
    LedgerDecision,
    QueuedAnswer,
    QueuedRequest,
    QueuedView,
    queued_answer,
    queued_view,
)
from services.common.instants import render
from services.common.problems import ValidationFailed
from services.course_data.routes_ledger import decision_json
from services.course_data.rules import Decision as RuleDecision
from services.queue import scripts
from services.queue.admission import Change, parse_body
from services.queue.records import Admission, Admitted, Entry
from services.queue.store import QueueStore


def test_a_script_naming_a_field_outside_the_contract_does_not_load() -> None:
    with pytest.raises(KeyError, match="course"):
        scripts.lua("redis.call('HGET', KEYS[1], '$course')")  # the name before: gone
    for script in (scripts.ADMIT, scripts.ADMIT_PLAN, scripts.FINISH, scripts.CLAIM, scripts.CANCEL):
        assert "$" not in script


async def test_a_request_keeps_the_contract_s_names_from_admission_to_its_view(redis: Redis) -> None:
    store = QueueStore(redis)
    await store.prepare()
    swap = Admission("q-0000001", 5, 2027, "swap", 3, 4, "s5", 2, "k-1")
    enroll = Admission("q-0000002", 6, None, "enroll", 3, None, "s6", 2, "k-2")
    admitted = await store.admit([swap, enroll], 100.0)
    for answer in admitted:
        QueuedAnswer.model_validate(queued_answer(answer.queue_request_id, answer.status, answer.position, answer.new))  # type: ignore[union-attr]

    [(_, entries)] = await redis.xread({"q:s:2": "0"})
    requests = [json.loads(fields[b"r"]) for _, fields in entries]
    assert [set(r) for r in requests] == [set(ENTRY_FIELDS)] * 2
    entry = Entry("q:s:2", "0-1", requests[0])
    assert QueuedRequest.model_validate(entry.for_ledger()).drop_course_id == 4
    assert (await store.record("q-0000001") or {}).keys() <= set(RECORD_FIELDS)

    # the ledger's answer, as its endpoint builds it: a waitlist place carries its position
    waitlisted = RuleDecision("waitlisted", reason="full: you are on its waitlist", details={"waitlist_position": 3})
    refused = RuleDecision("rejected", "time-conflict", "clashes", details={"conflicts": ["C1"]})
    answer = {
        "decisions": [
            {"queue_request_id": "q-0000001", "seq": 1, **decision_json(refused)},
            {"queue_request_id": "q-0000002", "seq": 2, **decision_json(waitlisted)},
        ],
        "full_courses": {"3": {"type": "waitlist-full", "reason": "full"}},
        "open_courses": [4],
    }
    BatchAnswer.model_validate(answer)
    await store.finish(orjson.dumps(answer), [], 101.0, full_for=1.0)

    views = {}
    for rid in ("q-0000001", "q-0000002"):
        record = await store.record(rid)
        assert record is not None
        assert record.keys() <= set(RECORD_FIELDS)
        views[rid] = QueuedView.model_validate(render(queued_view(rid, record)))  # as the answer renders it
    assert (views["q-0000001"].type, views["q-0000001"].conflicts, views["q-0000001"].drop_course_id) == (
        "time-conflict",
        ["C1"],
        4,
    )
    assert (views["q-0000002"].status, views["q-0000002"].waitlist_position) == ("waitlisted", 3)
    assert await redis.get("q:full:3") is not None  # the refusal the script keeps, by the contract's names


def test_every_decision_the_rules_give_is_the_contract_s() -> None:
    for decision in (
        RuleDecision("accepted"),
        RuleDecision("accepted", via_permit=True),
        RuleDecision("waitlisted", reason="r", details={"waitlist_position": 1}),
        RuleDecision("rejected", "prerequisites-missing", "r", details={"missing": ["C9"]}),
    ):
        LedgerDecision.model_validate(decision_json(decision))
    with pytest.raises(AssertionError):
        decision_json(RuleDecision("rejected", "x", "r", details={"unheard_of": 1}))


SCHEMA = Draft202012Validator(EnrollmentChange.model_json_schema())
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=3),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-2, max_value=2),
    st.sampled_from(["enroll", "drop", "swap", "Enroll", "", "1"]),
    st.lists(st.integers(), max_size=2),
)
NAMES = ["action", "course_id", "drop_course_id", "section_ids", "drop_course_ids", "extra"]
IDS = st.one_of(
    st.lists(st.one_of(st.integers(min_value=-1, max_value=4), st.sampled_from([1.0, True, "2"])), max_size=9),
    st.none(),
    st.integers(min_value=1, max_value=3),
)
BODIES = st.one_of(
    st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=5),
    st.fixed_dictionaries(
        {"action": st.sampled_from(["enroll", "drop", "swap"]), "course_id": st.integers(min_value=-1, max_value=5)},
        optional={"drop_course_id": st.one_of(st.none(), st.integers(min_value=-1, max_value=5))},
    ),
    st.fixed_dictionaries(  # section groups, and swaps into them
        {"action": st.sampled_from(["enroll", "drop", "swap"]), "section_ids": IDS},
        optional={
            "drop_course_ids": IDS,
            "course_id": st.one_of(st.none(), st.integers(min_value=1, max_value=3)),
            "drop_course_id": st.one_of(st.none(), st.integers(min_value=1, max_value=3)),
        },
    ),
    VALUES,
)


def parsed(body: Any) -> Change | None:
    try:
        return parse_body(body)
    except ValidationFailed:
        return None


@given(BODIES)
def test_the_fast_parser_accepts_exactly_what_the_schema_and_the_model_do(body: Any) -> None:
    fast = parsed(body)
    assert (fast is not None) == SCHEMA.is_valid(body), (body, fast)
    try:
        model = EnrollmentChange.model_validate(body)
    except ValueError:
        return
    ids = [body.get("course_id"), body.get("drop_course_id"), *(model.section_ids or ())]
    ids += [*(body.get("section_ids") or ()), *(body.get("drop_course_ids") or ())]
    if not any(isinstance(v, str | bool) for v in ids):  # (pydantic would coerce "1" and true)
        assert fast is not None
        sections, drops = tuple(model.section_ids or ()), tuple(model.drop_course_ids or ())
        course = model.course_id if model.course_id is not None else sections[0]
        assert fast == (model.action, course, model.drop_course_id, sections, drops)


def test_the_parser_and_the_schema_agree_on_the_edges() -> None:
    for body in (
        {"action": "enroll", "course_id": 1.0},  # an integer, to JSON Schema
        {"action": "enroll", "course_id": True},
        {"action": "enroll", "course_id": 1, "drop_course_id": None},
        {"action": "swap", "course_id": 1},
        {"action": "swap", "course_id": 1, "drop_course_id": 0},
        {"action": "drop", "course_id": 2, "drop_course_id": 1},
        {"action": "enroll", "course_id": 1.5},
        {"action": "enroll"},
        {"action": "enroll", "section_ids": [1, 2]},
        {"action": "enroll", "section_ids": [1, 1.0]},  # the same section twice
        {"action": "enroll", "section_ids": []},
        {"action": "enroll", "section_ids": [1, 2], "course_id": 1},
        {"action": "drop", "section_ids": [1, 2]},
        {"action": "swap", "section_ids": [1, 2]},
        {"action": "swap", "section_ids": [1, 2], "drop_course_ids": [3]},
        {"action": "swap", "section_ids": [1, 2], "drop_course_ids": [3], "drop_course_id": 3},
        {"action": "enroll", "section_ids": [1, 2], "drop_course_ids": [3]},
        {"action": "swap", "course_id": 1, "drop_course_id": 2, "drop_course_ids": [3]},
        {"action": "enroll", "section_ids": None, "course_id": 1},
        {"action": "enroll", "section_ids": list(range(1, 10))},
    ):
        assert (parsed(body) is not None) == SCHEMA.is_valid(body), body


def test_a_section_group_is_a_change_of_its_own_shape() -> None:
    assert parse_body({"action": "enroll", "section_ids": [4, 5.0]}) == ("enroll", 4, None, (4, 5), ())
    swap = {"action": "swap", "section_ids": [4, 5], "drop_course_ids": [2, 3]}
    assert parse_body(swap) == ("swap", 4, None, (4, 5), (2, 3))
    for bad, field in (
        ({"action": "enroll", "section_ids": [4, 4]}, "section_ids"),
        ({"action": "enroll", "section_ids": [4, "5"]}, "section_ids"),
        ({"action": "enroll", "section_ids": [4], "course_id": 4}, "course_id"),
        ({"action": "drop", "section_ids": [4]}, "section_ids"),
        ({"action": "swap", "section_ids": [4]}, "drop_course_ids"),
        ({"action": "enroll", "section_ids": [4], "drop_course_ids": [1]}, "drop_course_ids"),
        ({"action": "swap", "course_id": 4, "drop_course_id": 1, "drop_course_ids": [1]}, "drop_course_ids"),
    ):
        with pytest.raises(ValidationFailed) as refused:
            parse_body(bad)
        assert field in {e["field"] for e in refused.value.extra["errors"]}, bad
        assert not SCHEMA.is_valid(bad)


async def test_a_section_group_keeps_its_sections_from_admission_to_its_view(redis: Redis) -> None:
    store = QueueStore(redis)
    await store.prepare()
    group = Admission("q-0000003", 7, None, "swap", 4, None, "s7", 1, "k-3", section_ids="4,5", drop_course_ids="2,3")
    [admitted] = await store.admit([group], 100.0)
    assert isinstance(admitted, Admitted)
    [(_, entries)] = await redis.xread({"q:s:1": "0"})
    request = json.loads(entries[0][1][b"r"])
    assert set(request) == set(ENTRY_FIELDS)
    ledger = QueuedRequest.model_validate(Entry("q:s:1", "0-1", request).for_ledger())
    assert (ledger.course_id, ledger.section_ids, ledger.drop_course_ids) == (4, [4, 5], [2, 3])
    assert await redis.get("q:f:2") == b"1"  # a swap into a group waits to free each section it gives up
    accepted = RuleDecision("accepted", reason="enrolled in S1 L1 + S1 B1")
    answer = {"decisions": [{"queue_request_id": "q-0000003", "seq": 9, **decision_json(accepted)}]}
    await store.finish(orjson.dumps({**answer, "full_courses": {}, "open_courses": []}), [], 101.0)
    record = await store.record("q-0000003")
    assert record is not None
    assert record.keys() <= set(RECORD_FIELDS)
    view = QueuedView.model_validate(render(queued_view("q-0000003", record)))
    assert (view.status, view.course_id, view.section_ids, view.drop_course_ids) == ("accepted", 4, [4, 5], [2, 3])
    assert await redis.get("q:f:2") == b"0"
    single = QueuedRequest.model_validate(Entry("q:s:2", "0-2", {**request, "section_ids": ""}).for_ledger())
    assert single.section_ids is None  # (a single course's request names no group: any ledger takes it)

    # A group is never refused at once from the full-course cache (it holds a single course's refusal).
    await redis.set("q:full:6", json.dumps({"type": "waitlist-full", "reason": "full"}))
    group_in = Admission("q-0000004", 8, None, "enroll", 6, None, "s8", 2, "k-4", section_ids="6,5")
    alone = Admission("q-0000005", 9, None, "enroll", 6, None, "s9", 2, "k-5")
    answers = await store.admit([group_in, alone], 102.0)
    assert [type(a).__name__ for a in answers] == ["Admitted", "Refused"]
