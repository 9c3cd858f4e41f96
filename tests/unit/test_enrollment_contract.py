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
from services.queue.admission import parse_body
from services.queue.records import Admission, Entry
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
BODIES = st.one_of(
    st.dictionaries(st.sampled_from(["action", "course_id", "drop_course_id", "extra"]), VALUES, max_size=4),
    st.fixed_dictionaries(
        {"action": st.sampled_from(["enroll", "drop", "swap"]), "course_id": st.integers(min_value=-1, max_value=5)},
        optional={"drop_course_id": st.one_of(st.none(), st.integers(min_value=-1, max_value=5))},
    ),
    VALUES,
)


def parsed(body: Any) -> tuple[str, int, int | None] | None:
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
    ids = (body.get("course_id"), body.get("drop_course_id"))
    if not any(isinstance(v, str | bool) for v in ids):  # (pydantic would coerce "1" and true)
        assert fast == (model.action, model.course_id, model.drop_course_id)


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
    ):
        assert (parsed(body) is not None) == SCHEMA.is_valid(body), body
