"""Admission: the checks a request passes before it is recorded, and recording many at once.

Checks, cheapest first: the body, the per-student rate limit (`rate_limit.py`), the
registration window.
What passes is appended to its priority's stream, unless it is an enrollment in a course
the ledger just reported full, seats and waitlist, which is refused at once (`store.py`
says when exactly). Admissions that arrive while a Redis round trip is under way are sent
together in the next one (one script call), so Redis costs one round trip per burst, not
per request. A request is answered 202 only once Redis has recorded it (with Sentinel,
once every replica has: `store.py`). A refusal at once, a closed window or a full course,
is recorded under the Idempotency-Key in the same script step as the check, so the same
key always gets the same answer, on any queue node.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from cluster.settings import QueueSettings
from services.common.enrollment_contract import ACTIONS, GROUP_MAX
from services.common.problems import Conflict, ProblemError, ServiceUnavailable, ValidationFailed
from services.common.registration import DROP_CLOSED, WINDOW_CLOSED, Standing, WindowRefusal
from services.queue.rate_limit import StudentRateLimit
from services.queue.records import Admission, Admitted, PlanAdmission, PlanAdmitted, Refused, Stalled, TooManyOpen
from services.queue.store import QueueStorage
from services.queue.windows import WindowCache

AdmissionOutcome = Admitted | Refused | Stalled | TooManyOpen
_FIELDS = frozenset({"action", "course_id", "drop_course_id", "section_ids", "drop_course_ids"})
KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:")


class TooManyRequests(ProblemError):
    status, slug, title = 429, "rate-limited", "Too many requests"


class TooManyOpenRequests(ProblemError):
    status, slug, title = 429, "too-many-open-requests", "Too many requests waiting for a decision"


class QueueStalled(ServiceUnavailable):
    slug, title = "queue-stalled", "The queue takes no new requests while the ledger cannot decide"


class WindowRefused(Conflict):
    """The window rule's refusal (`services.common.registration`): its type and reason, as the
    ledger gives them."""

    title = "Registration is not open for you now"

    def __init__(self, refusal: WindowRefusal) -> None:
        super().__init__(refusal.reason, outcome="rejected")
        if refusal.opens_at is not None:
            self.extra["opens_at"] = refusal.opens_at_text  # when the student's next window opens
        self.slug = refusal.type


_WINDOW_TYPES = frozenset({WINDOW_CLOSED.type, DROP_CLOSED.type})


def check_key(key: str | None) -> str:
    if not key:
        raise ValidationFailed(
            "send an Idempotency-Key header (a fresh random value per request; the same value to retry it)",
            errors=[{"field": "Idempotency-Key", "message": "required"}],
        )
    if len(key) > 100 or not set(key) <= KEY_CHARS:
        raise ValidationFailed(
            "Idempotency-Key: at most 100 letters, digits and -_.:",
            errors=[{"field": "Idempotency-Key", "message": "invalid"}],
        )
    return key


def _course_id(value: Any) -> int | None:
    """A course id (a JSON integer from 1: `3.0` is one, as JSON Schema counts it; `true` is not)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None


class Change(NamedTuple):
    """A request body as admission parsed it: one course, or a section group (`section_ids`,
    `course_id` its first section; a swap into it gives up `drop_course_ids`)."""

    action: str
    course_id: int
    drop_course_id: int | None
    section_ids: tuple[int, ...] = ()
    drop_course_ids: tuple[int, ...] = ()


def _ids(value: Any, field: str, errors: list[dict[str, str]]) -> tuple[int, ...]:
    """A list of distinct course ids (1 to GROUP_MAX of them), or () and an error naming the field."""
    ids = [_course_id(v) for v in value] if isinstance(value, list) else []
    if not 1 <= len(ids) <= GROUP_MAX or None in ids or len(set(ids)) != len(ids):
        errors.append({"field": field, "message": f"1 to {GROUP_MAX} distinct section ids"})
        return ()
    return tuple(i for i in ids if i is not None)


def parse_body(body: Any) -> Change:
    """The change a request body asks for, or 422 naming each bad field: what
    `enrollment_contract.EnrollmentChange` (the schema) accepts, no more, no less (tested)."""
    errors: list[dict[str, str]] = []
    if not isinstance(body, dict):
        raise ValidationFailed("the body must be a JSON object", errors=[{"field": "", "message": "an object"}])
    unknown = set(body) - _FIELDS
    if unknown:
        errors.append({"field": ", ".join(sorted(unknown)), "message": "unknown field"})
    action = body.get("action")
    if action not in ACTIONS:
        errors.append({"field": "action", "message": "enroll, drop or swap"})
    if body.get("section_ids") is not None:
        return _parse_group(body, action, errors)
    given_drop, given_drops = body.get("drop_course_id"), body.get("drop_course_ids")
    course, drop = _course_id(body.get("course_id")), _course_id(given_drop)
    if course is None:
        errors.append({"field": "course_id", "message": "a course id (or section_ids: a section group)"})
    if action == "swap":
        if drop is None:
            errors.append({"field": "drop_course_id", "message": "a swap needs the course id to give up"})
    elif given_drop is not None:
        errors.append({"field": "drop_course_id", "message": "only for a swap"})
    if given_drops is not None:
        errors.append({"field": "drop_course_ids", "message": "only for a swap into a section group"})
    _raise_any(errors)
    assert course is not None
    return Change(str(action), course, drop)


def _parse_group(body: dict[str, Any], action: Any, errors: list[dict[str, str]]) -> Change:
    sections = _ids(body["section_ids"], "section_ids", errors)
    for single in ("course_id", "drop_course_id"):
        if body.get(single) is not None:
            errors.append({"field": single, "message": "not with section_ids (a section group)"})
    if action == "drop":
        errors.append({"field": "section_ids", "message": "enroll or swap only: drop each section by its id"})
    drops: tuple[int, ...] = ()
    if action == "swap":
        if body.get("drop_course_ids") is None:
            errors.append(
                {"field": "drop_course_ids", "message": "a swap into a section group needs the ids to give up"}
            )
        else:
            drops = _ids(body["drop_course_ids"], "drop_course_ids", errors)
    elif body.get("drop_course_ids") is not None:
        errors.append({"field": "drop_course_ids", "message": "only for a swap"})
    _raise_any(errors)
    return Change(str(action), sections[0], None, sections, drops)


def _raise_any(errors: list[dict[str, str]]) -> None:
    if errors:
        raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)


class Admitter:
    def __init__(self, store: QueueStorage, windows: WindowCache, settings: Callable[[], QueueSettings]) -> None:
        self._store = store
        self.windows = windows
        self._settings = settings
        self._limiter = StudentRateLimit()
        self._waiting: list[tuple[Admission, asyncio.Future[AdmissionOutcome]]] = []
        self._flushing = False
        # Request ids: a random prefix per process and a counter. Only their owner can read a
        # request (anyone else gets 404), so they need to be unique, not secret.
        self._prefix = secrets.token_hex(6)
        self._count = itertools.count(1)

    async def admit(
        self,
        student_id: int,
        cohort: Standing | int | None,
        actor: str,
        key: str,
        body: Any,
        now: float | None = None,
    ) -> Admitted | Refused:
        """Admit one request; `cohort`: the student's standing (or a bare cohort)."""
        change = parse_body(body)
        action = change.action
        settings, now = self._settings(), time.time() if now is None else now
        if not await self._limiter.allow(student_id, settings.student_rate_limit):
            raise TooManyRequests(f"at most {settings.student_rate_limit}", headers={"Retry-After": "1"})
        # A closed window is refused through Redis like a full course: the key records the
        # refusal, so a click with it on a node whose clock or windows differ answers the same.
        who = Standing.of(cohort)
        refusal = await self.windows.refusal(who, action, now, student_id)
        refused: dict[str, object] = {"type": refusal.type, "reason": refusal.reason} if refusal else {}
        if refusal is not None and refusal.opens_at is not None:
            refused["opens_at"] = refusal.opens_at
        admission = Admission(
            f"{self._prefix}{next(self._count):x}",
            student_id,
            who.cohort,
            action,
            change.course_id,
            change.drop_course_id,
            actor,
            settings.priorities.get(action, 2),  # type: ignore[call-overload]  # (validated 0..2)
            key,
            json.dumps(refused) if refused else "",
            who.program,
            who.year,
            who.priority_group,
            ",".join(map(str, change.section_ids)),
            ",".join(map(str, change.drop_course_ids)),
        )
        answer = await self._submit(admission)
        if isinstance(answer, Refused) and answer.type in _WINDOW_TYPES:
            raise WindowRefused(WindowRefusal(answer.type, answer.reason, answer.opens_at))
        checked: Admitted | Refused = self._checked(answer, settings)
        return checked

    async def admit_plan(
        self,
        student_id: int,
        cohort: Standing | int | None,
        actor: str,
        key: str,
        items: list[list[int]],
        now: float | None = None,
    ) -> PlanAdmitted:
        """Admit a plan whole (`store.admit_plan`): one enrollment per item, in order, each with
        its courses in order of preference. The rush's checks, for the plan as one call: the
        rate limit (one admission), the window (recorded under the key), the stall, the cap
        (every item needs a place)."""
        settings, now = self._settings(), time.time() if now is None else now
        if not await self._limiter.allow(student_id, settings.student_rate_limit):
            raise TooManyRequests(f"at most {settings.student_rate_limit}", headers={"Retry-After": "1"})
        who = Standing.of(cohort)
        refusal = await self.windows.refusal(who, "enroll", now, student_id)
        refused: dict[str, object] = {"type": refusal.type, "reason": refusal.reason} if refusal else {}
        if refusal is not None and refusal.opens_at is not None:
            refused["opens_at"] = refusal.opens_at
        plan = PlanAdmission(
            student_id,
            who.cohort,
            actor,
            settings.priorities.get("enroll", 2),
            key,
            [(f"{self._prefix}{next(self._count):x}", courses) for courses in items],
            json.dumps(refused) if refused else "",
            who.program,
            who.year,
            who.priority_group,
        )
        answer = await self._store.admit_plan(plan, now, settings.max_open_requests)
        if isinstance(answer, Refused):
            raise WindowRefused(WindowRefusal(answer.type, answer.reason, answer.opens_at))
        checked: PlanAdmitted = self._checked(answer, settings)
        return checked

    def _checked(self, answer: AdmissionOutcome | PlanAdmitted, settings: QueueSettings) -> Any:
        """The answer, or the problem a stall or the open-request cap answers."""
        if isinstance(answer, TooManyOpen):
            raise TooManyOpenRequests(
                f"you have {answer.open} requests waiting for a decision (at most {settings.max_open_requests}): "
                "wait for their outcome or cancel one; nothing was recorded",
                headers={"Retry-After": "1"},
                open_requests=answer.open,
                limit=settings.max_open_requests,
            )
        if isinstance(answer, Stalled):
            raise QueueStalled(
                f"{answer.reason}; nothing was recorded: send it again (the same Idempotency-Key) later",
                headers={"Retry-After": "1"},
            )
        return answer

    async def _submit(self, admission: Admission) -> Admitted | Refused | Stalled | TooManyOpen:
        future: asyncio.Future[AdmissionOutcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((admission, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        """Send what waits in one round trip, again until nothing waits. One flush at a time:
        measured, several in flight made smaller bursts that cost more than they saved."""
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    answers = await self._store.admit(
                        [a for a, _ in batch], time.time(), self._settings().max_open_requests
                    )
                except Exception as exc:
                    # Those that came while Redis failed fail with it (503: retry), rather than wait
                    # for a second timeout: no admission waits on Redis longer than one.
                    batch, self._waiting = batch + self._waiting, []
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), answer in zip(batch, answers, strict=True):
                    if not future.done():
                        future.set_result(answer)
        finally:
            self._flushing = False
