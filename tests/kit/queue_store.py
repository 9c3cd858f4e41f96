"""An in-memory twin of the queue's Redis store (`services.queue.store.QueueStore`).

The same interface and the same rules as the Lua scripts (idempotency keys, the stall
mark, the open-request cap, full courses refused at once unless a drop or swap out of
them waits, decisions taken once, plans admitted whole and a refused item's next
alternative queued in its place), over dicts, with an injected clock, so the decider,
the waiters and the statistics can be tested without Redis. `tests/unit/test_queue_twin.py`
runs the same scenarios through both and checks they agree.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.common.enrollment_contract import (
    ADMISSION_FIELDS,
    ENTRY_FIELDS,
    PLAN_ITEM_FIELDS,
    RECORDED_DECISION_FIELDS,
)
from services.queue.keys import STREAMS
from services.queue.records import (
    Admission,
    Admitted,
    Entry,
    PlanAdmission,
    PlanAdmitted,
    PlanItem,
    Refused,
    Stalled,
    TooManyOpen,
)
from services.queue.store import AdmitAnswer, Figures, PlanAnswer, StreamFigures

_GROUP_FIELDS = ("section_ids", "drop_course_ids")  # (a plan's item has none: its entry neither)


@dataclass
class _Stream:
    entries: list[Entry] = field(default_factory=list)
    delivered: int = 0  # entries[:delivered] were read by a consumer
    pending: dict[str, str] = field(default_factory=dict)  # entry id -> consumer, read and not acked


class MemoryStore:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.records: dict[str, dict[str, str]] = {}
        self.keys: dict[tuple[int, str], str] = {}  # (student, idempotency key) -> request id, or "!" + refusal
        self.plan_keys: dict[tuple[int, str], str] = {}  # (student, key) -> the plan's items (JSON), or "!" + refusal
        self.by_student: dict[int, list[str]] = {}  # the student's requests, in admission order
        self.open: dict[int, int] = {}
        self.full: dict[str, tuple[str, float]] = {}  # course -> (refusal JSON, until)
        self.frees: dict[str, int] = {}
        self.refused: dict[str, int] = {}
        self.streams = {name: _Stream() for name in STREAMS}
        self.admitted = self.decided = self.plans = 0
        self.stalled: tuple[str, float] | None = None
        self.failing: Exception | None = None  # set: every call raises it (Redis down)
        self._listeners: list[asyncio.Queue[list[str]]] = []
        self._new = asyncio.Event()
        self._seq = itertools.count(1)

    def _check(self) -> None:
        if self.failing is not None:
            raise self.failing

    def _announce(self, ids: list[str]) -> None:
        for listener in self._listeners:
            listener.put_nowait(ids)

    def _left_queue(self, record: dict[str, str]) -> None:
        frees = {"drop": record["course_id"], "swap": record["drop_course_id"]}.get(record["action"], "")
        for course in [frees] if frees else record.get("drop_course_ids", "").split(","):
            if course:
                self.frees[course] = self.frees.get(course, 0) - 1
        student = int(record["student_id"])
        if self.open.get(student, 0) > 0:
            self.open[student] -= 1

    async def prepare(self) -> None:
        self._check()

    async def admit(self, admissions: Sequence[Admission], now: float, max_open: int = 0) -> list[AdmitAnswer]:
        self._check()
        out: list[AdmitAnswer] = []
        stalled = self.stalled if self.stalled and self.stalled[1] > self.clock() else None
        for a in admissions:
            r = {name: "" if getattr(a, name) is None else str(getattr(a, name)) for name in ADMISSION_FIELDS}
            existing = self.keys.get((a.student_id, a.idempotency_key))
            full = None
            if existing is None and a.action == "enroll" and not a.section_ids:
                full = self._full(r["course_id"])
            if existing is not None and existing.startswith("!"):
                refusal = json.loads(existing[1:])
                out.append(Refused(refusal["type"], refusal["reason"], refusal.get("opens_at")))
            elif existing is not None:
                out.append(Admitted(existing, False, self.records.get(existing, {}).get("status", "pending"), 0))
            elif a.refusal:
                self.keys[(a.student_id, a.idempotency_key)] = "!" + a.refusal
                refusal = json.loads(a.refusal)
                out.append(Refused(refusal["type"], refusal["reason"], refusal.get("opens_at")))
            elif stalled:
                out.append(Stalled(stalled[0]))
            elif full is not None:
                self.refused[r["course_id"]] = self.refused.get(r["course_id"], 0) + 1
                self.keys[(a.student_id, a.idempotency_key)] = "!" + full
                refusal = json.loads(full)
                out.append(Refused(refusal["type"], refusal["reason"]))
            elif max_open > 0 and self.open.get(a.student_id, 0) >= max_open:
                out.append(TooManyOpen(self.open[a.student_id]))
            else:
                self.keys[(a.student_id, a.idempotency_key)] = a.queue_request_id
                self._enqueue(r, [], 0, now)
                out.append(Admitted(a.queue_request_id, True, "pending", self.admitted - self.decided))
        self._new.set()
        return out

    def _enqueue(self, r: dict[str, str], alternatives: Sequence[str], alternative: int, now: float) -> None:
        """Queue one request (`r`: its fields, strings), as the scripts' `enqueue`."""
        student = int(r["student_id"])
        self.open[student] = self.open.get(student, 0) + 1
        at = f"{now:.6f}"
        request = {name: r.get(name, at) for name in ENTRY_FIELDS if name in r or name not in _GROUP_FIELDS}
        stream = STREAMS[int(r["priority"])]
        entry_id = f"{int(now * 1000)}-{next(self._seq)}"
        self.streams[stream].entries.append(Entry(stream, entry_id, request))
        self.admitted += 1
        record = {
            "student_id": r["student_id"],
            "action": r["action"],
            "course_id": r["course_id"],
            "drop_course_id": r["drop_course_id"],
            "admitted_at": at,
            "priority": r["priority"],
            "entry": entry_id,
            "n": str(self.admitted),
            "status": "pending",
        }
        if alternatives:
            record.update(alternatives=",".join(alternatives), cohort=r["cohort"], actor=r["actor"])
            record.update({k: r.get(k, "") for k in ("program", "year", "priority_group")})
        if alternative > 0:
            record["alternative"] = str(alternative)
        if r.get("section_ids"):
            record.update(section_ids=r["section_ids"], drop_course_ids=r.get("drop_course_ids", ""))
        self.records[r["queue_request_id"]] = record
        self.by_student.setdefault(student, []).append(r["queue_request_id"])
        frees = {"drop": r["course_id"], "swap": r["drop_course_id"]}.get(r["action"], "")
        for course in [frees] if frees else r.get("drop_course_ids", "").split(","):
            if course:
                self.frees[course] = self.frees.get(course, 0) + 1

    def _full(self, course: str) -> str | None:
        kept = self.full.get(course)
        if kept and kept[1] > self.clock() and self.frees.get(course, 0) <= 0:
            return kept[0]
        return None

    async def admit_plan(self, plan: PlanAdmission, now: float, max_open: int = 0) -> PlanAnswer:
        self._check()
        key = (plan.student_id, plan.idempotency_key)
        existing = self.plan_keys.get(key)
        if existing is not None and existing.startswith("!"):
            refusal = json.loads(existing[1:])
            return Refused(refusal["type"], refusal["reason"])
        if existing is not None:
            known = json.loads(existing)
            for item in known:
                if item["queue_request_id"]:
                    item["status"] = self.records.get(item["queue_request_id"], {}).get("status", item["status"])
            return PlanAdmitted(False, [PlanItem.of(i) for i in known])
        if plan.refusal:
            self.plan_keys[key] = "!" + plan.refusal
            self.plans += 1
            refusal = json.loads(plan.refusal)
            return Refused(refusal["type"], refusal["reason"])
        if self.stalled and self.stalled[1] > self.clock():
            return Stalled(self.stalled[0])
        open_now = self.open.get(plan.student_id, 0)
        if max_open > 0 and open_now + len(plan.items) > max_open:
            return TooManyOpen(open_now)
        items = []
        for position, fields in enumerate(plan.script_items(), 1):
            r = dict(zip(PLAN_ITEM_FIELDS, fields, strict=True))
            choices = [r.pop("course_id"), *(c for c in r.pop("alternatives").split(",") if c)]
            item = {"position": position, "course_id": choices[0], "queue_request_id": "", "status": "rejected"}
            item.update(type="", reason="")
            for i, course in enumerate(choices):
                full = self._full(course)
                if full is not None:
                    self.refused[course] = self.refused.get(course, 0) + 1
                    refusal = json.loads(full)
                    item.update(type=refusal["type"], reason=refusal["reason"])
                    continue
                self._enqueue({**r, "course_id": course}, choices[i + 1 :], i, now)
                item.update(
                    course_id=course, queue_request_id=r["queue_request_id"], status="pending", type="", reason=""
                )
                break
            items.append(item)
        self.plan_keys[key] = json.dumps(items)
        self.plans += 1
        self._new.set()
        return PlanAdmitted(True, [PlanItem.of(i) for i in items])

    def _fall_back(self, request_id: str, record: dict[str, str], now: float) -> None:
        """A plan's item refused: queue its next alternative in its place (as `scripts.FINISH`)."""
        if not record.get("alternatives"):
            return
        course, *rest = record.pop("alternatives").split(",")
        alternative = int(record.get("alternative", "0")) + 1
        new_id = f"{request_id.split('-')[0]}-{alternative}"
        r = {"queue_request_id": new_id, "student_id": record["student_id"], "cohort": record["cohort"]}
        r.update(
            action="enroll", course_id=course, drop_course_id="", actor=record["actor"], priority=record["priority"]
        )
        r.update({k: record.get(k, "") for k in ("program", "year", "priority_group")})
        self._enqueue(r, rest, alternative, now)
        record["next"] = new_id
        self._new.set()

    async def record(self, request_id: str) -> dict[str, str] | None:
        self._check()
        record = self.records.get(request_id)
        return dict(record) if record else None

    async def student_requests(
        self, student_id: int, offset: int, size: int
    ) -> tuple[list[tuple[str, dict[str, str]]], int]:
        self._check()
        mine = [i for i in reversed(self.by_student.get(student_id, [])) if i in self.records]
        return [(i, dict(self.records[i])) for i in mine[offset : offset + size]], len(mine)

    async def open_requests(self, student_id: int) -> int:
        self._check()
        return max(0, self.open.get(student_id, 0))

    async def cancel(self, request_id: str) -> str:
        self._check()
        record = self.records.get(request_id)
        if record is None:
            return "missing"
        if record["status"] != "pending":
            return record["status"]
        self._left_queue(record)
        record.update(status="cancelled", type="cancelled", reason="cancelled by the student")
        record["decided_at"] = f"{self.clock():.6f}"
        self.decided += 1
        self._announce([request_id])
        return "cancelled"

    async def claim(self, entries: Sequence[Entry]) -> list[Entry]:
        self._check()
        taken = []
        for e in entries:
            record = self.records.get(e.request_id)
            if record and record["status"] in ("pending", "deciding"):
                record["status"] = "deciding"
                taken.append(e)
        return taken

    async def finish(self, answer: bytes | None, acked: Sequence[Entry], now: float, full_for: float = 0.0) -> None:
        self._check()
        if answer is not None:
            parsed: dict[str, Any] = json.loads(answer)
            ids = []
            for d in parsed["decisions"]:
                record = self.records.get(d["queue_request_id"])
                if record is None or record["status"] not in ("pending", "deciding"):
                    continue
                self._left_queue(record)
                record.update(status=d["outcome"], type=d["type"], reason=d["reason"], seq=str(d["seq"]))
                record["decided_at"] = f"{now:.6f}"
                details = {k: v for k, v in d.items() if k not in RECORDED_DECISION_FIELDS}
                if details:
                    record["details"] = json.dumps(details, separators=(",", ":"))
                ids.append(d["queue_request_id"])
                if d["outcome"] == "rejected":
                    self._fall_back(d["queue_request_id"], record, now)
            for course, refusal in (parsed.get("full_courses") or {}).items():
                if full_for > 0:
                    kept = json.dumps({"type": refusal["type"], "reason": refusal["reason"]})
                    self.full[course] = (kept, self.clock() + full_for)
            for course in parsed.get("open_courses") or []:
                self.full.pop(str(course), None)
            if ids:
                self.decided += len(ids)
                self._announce(ids)
        for e in acked:
            self.streams[e.stream].pending.pop(e.entry_id, None)

    async def reclaim(self, consumer: str) -> list[Entry]:
        self._check()
        found = []
        for stream in self.streams.values():
            for e in stream.entries[: stream.delivered]:
                if e.entry_id in stream.pending:
                    stream.pending[e.entry_id] = consumer
                    found.append(e)
        return found

    async def read_new(self, consumer: str, count: int, block_ms: int) -> list[Entry]:
        self._check()
        found = self._deliver(consumer, count)
        if not found:
            self._new.clear()
            try:
                async with asyncio.timeout(block_ms / 1000):
                    await self._new.wait()
            except TimeoutError:
                return []
            found = self._deliver(consumer, count)
        return found

    def _deliver(self, consumer: str, count: int) -> list[Entry]:
        found = []
        for stream in self.streams.values():
            taken = stream.entries[stream.delivered : stream.delivered + count]
            stream.delivered += len(taken)
            stream.pending.update(dict.fromkeys((e.entry_id for e in taken), consumer))
            found += taken
        return found

    async def mark_stalled(self, reason: str, seconds: float) -> None:
        self._check()
        self.stalled = (reason, self.clock() + seconds)

    async def clear_stalled(self) -> None:
        self._check()
        self.stalled = None

    async def announcements(self, stopped: Callable[[], bool]) -> AsyncIterator[list[str]]:
        self._check()
        listener: asyncio.Queue[list[str]] = asyncio.Queue()
        self._listeners.append(listener)
        try:
            while not stopped():
                self._check()
                try:
                    async with asyncio.timeout(0.05):
                        yield await listener.get()
                except TimeoutError:
                    continue
        finally:
            self._listeners.remove(listener)

    async def figures(self) -> Figures:
        self._check()
        figures = Figures(self.admitted, self.decided, sum(self.refused.values()), 0, 0)
        for name, stream in self.streams.items():
            pending = [e for e in stream.entries[: stream.delivered] if e.entry_id in stream.pending]
            waiting = stream.entries[stream.delivered :]
            figures.streams[name] = StreamFigures(
                len(stream.entries),
                len(pending),
                len(waiting),
                float(pending[0].request["admitted_at"]) if pending else None,
                float(waiting[0].request["admitted_at"]) if waiting else None,
            )
        return figures
