"""Imports as jobs: `POST` answers 202 at once, the work runs on the master, `GET /imports/{id}` tells.

The job's row (`import_jobs`) is its durable record: status (queued, running, succeeded,
failed), progress (phase, rows done of rows total), every error `{line, field, reason}`
and the result (ids created). A client that times out reads the outcome later.

Bounds: one import at a time per service (a second answers 409 with the running job's
URL); the CPU work runs in the node's worker process (services/common/jobs_pool.py) in
chunks; writes go through the master's fenced write. Nothing is written until every row
is valid, and then the data and the job's `succeeded` commit in one transaction, so a
job is either done whole or not at all.

A job belongs to the master epoch that started it. If that master loses its lease, the
job stops at its next step (its fence no longer matches), and the next master marks every
job it is not running itself as failed (`interrupted`): none stays `running` forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from sqlalchemy import select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cluster.errors import LeaseNotHeldError
from cluster.master_writer import MasterWriter
from services.common.auth import ADMINS, Principal, authenticate
from services.common.background import run_in_background
from services.common.context import NodeContext, context_of
from services.common.csv_body import Problem, decoded, plan_csv, problem
from services.common.instants import iso
from services.common.jobs_pool import WorkerPool
from services.common.problems import Conflict, Forbidden, NotFound, ServiceUnavailable
from storage.errors import StaleEpochError
from storage.schemas.core import import_jobs

log = logging.getLogger("course_selection.jobs")

T = TypeVar("T")
MAX_LISTED_ERRORS = 1000  # the job lists this many errors (in file order) and counts them all
SWEEP_SECONDS = 2.0
RETRY_AFTER_SECONDS = 5
UNFINISHED = ("queued", "running")


class ImportRefused(Exception):
    """Some rows are invalid: the job fails with its errors and nothing is written."""


class Interrupted(Exception):
    """This node is no longer the master of the epoch the job started in."""


@dataclass
class Job:
    """What an import's work sees: its worker, its progress, its errors, its one write."""

    id: int
    kind: str
    actor: Principal
    epoch: int
    runner: JobRunner
    errors: list[Problem] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    committed: bool = False

    @property
    def url(self) -> str:
        return job_url(self.id)

    def fence(self) -> tuple[str, int]:
        """The master's fence, only while it is still the epoch this job started in."""
        try:
            scope, epoch = self.runner.fence()
        except LeaseNotHeldError as exc:
            raise Interrupted(str(exc)) from None
        if epoch != self.epoch:
            raise Interrupted(f"the master epoch changed from {self.epoch} to {epoch}")
        return scope, epoch

    def problem(self, line: int, field: str, reason: str) -> None:
        self.errors.append(problem(line, field, reason))

    async def in_worker(self, fn: Callable[..., T], *args: Any) -> T:
        self.fence()
        return await self.runner.pool.run(fn, *args)

    async def csv_chunks(
        self,
        data: bytes,
        columns: Sequence[str],
        required: Sequence[str],
        max_rows: int,
        chunk: int,
        check: Callable[..., tuple[list[Problem], list[T]]],
        *args: Any,
    ) -> AsyncIterator[list[T]]:
        """Each chunk of the file as `check(text, header, lines_before, *args)` validated it in the
        worker, with every problem added to the job's errors and the progress recorded."""
        plan = await self.in_worker(plan_csv, data, columns, required, max_rows, chunk)
        self.errors.extend(plan.errors)
        text = decoded(data) if plan.chunks else ""
        done = 0
        await self.progress("validating", done, plan.rows)
        for start, end, before, count in plan.chunks:
            problems, checked = await self.in_worker(check, text[start:end], plan.header, before, *args)
            self.errors.extend(problems)
            yield checked
            done += count
            await self.progress("validating", done, plan.rows)

    async def progress(self, phase: str, done: int, total: int) -> None:
        async with self.runner.writer.write(epoch=self.epoch) as conn:
            await conn.execute(
                update(import_jobs)
                .where(import_jobs.c.id == self.id)
                .values(phase=phase, rows_done=done, rows_total=total, updated_at=self.runner.clock())
            )

    def refuse_if_errors(self, verb: str = "created") -> None:
        if self.errors:
            raise ImportRefused(f"{len(self.errors)} problem(s) in the file; nothing was {verb}")

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncConnection]:
        """The import's one fenced transaction; set `result` inside it: the job succeeds with it."""
        async with self.runner.writer.write(epoch=self.epoch) as conn:
            yield conn
            now = self.runner.clock()
            await conn.execute(
                update(import_jobs)
                .where(import_jobs.c.id == self.id)
                .values(
                    status="succeeded",
                    phase="done",
                    rows_done=import_jobs.c.rows_total,
                    result=orjson.dumps(self.result).decode(),
                    updated_at=now,
                    finished_at=now,
                )
            )
        self.committed = True


Work = Callable[[Job], Awaitable[None]]


def job_url(job_id: int) -> str:
    return f"/imports/{job_id}"


class JobRunner:
    """The import jobs of one node: runs them while it is the master, one at a time."""

    def __init__(
        self, writer: MasterWriter, node_id: str, pool: WorkerPool, clock: Callable[[], float] = time.time
    ) -> None:
        self.writer = writer  # every write of a job goes through it: a refused one steps the node down
        self.database = writer.database
        self.fence = writer.fence
        self.node_id = node_id
        self.pool = pool
        self.clock = clock
        self._active: Job | None = None
        self._reserved = False
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self._wake = asyncio.Event()
        self._orphan_lock = asyncio.Lock()  # a sweep never runs between a submit's insert and its `_active`

    async def submit(self, kind: str, actor: Principal, work: Work) -> Job:
        """Record a queued job and start it; 409 while another import of this service runs."""
        if self._reserved:
            running = self._active.url if self._active else None
            raise Conflict(
                "an import is already running on this service: wait for it to finish",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                job=running,
            )
        self._reserved = True  # before the first await: two submits cannot both pass
        try:
            try:
                _scope, epoch = self.fence()
            except LeaseNotHeldError:
                raise ServiceUnavailable("this node stopped being the master; try again") from None
            now = self.clock()
            async with self._orphan_lock:
                async with self.writer.write() as conn:
                    await self._fail_orphans(conn, now)
                    made = await conn.execute(
                        import_jobs.insert().values(
                            kind=kind,
                            status="queued",
                            phase="",
                            submitted_by=actor.username,
                            submitted_role=actor.role,
                            node_id=self.node_id,
                            epoch=epoch,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                job = Job(int(made.inserted_primary_key[0]), kind, actor, epoch, self)  # type: ignore[index]
                self._active = job
        except BaseException:
            self._reserved = False
            raise
        self._task = asyncio.create_task(self._run(job, work))
        return job

    async def _run(self, job: Job, work: Work) -> None:
        try:
            await self._set(job, status="running", phase="parsing")
            await work(job)
            if not job.committed:  # work with nothing to write
                async with job.writing():
                    pass
        except ImportRefused as exc:
            await self._finish_failed(job, str(exc))
        except (Interrupted, LeaseNotHeldError, StaleEpochError) as exc:
            log.warning("import interrupted", extra={"job": job.id, "reason": str(exc)})
            await self._finish_failed(job, f"interrupted: {exc}")
        except asyncio.CancelledError:
            await self._finish_failed(job, "interrupted: the node stopped")
            raise
        except Exception:
            log.exception("import failed", extra={"job": job.id, "kind": job.kind})
            await self._finish_failed(job, "the import failed on an internal error (logged); nothing was written")
        finally:
            self._active, self._reserved = None, False

    async def _set(self, job: Job, *, as_master: bool = False, **values: Any) -> None:
        """Update the job's row: within its own epoch, or (`as_master`) as whichever epoch is current."""
        async with self.writer.write(epoch=None if as_master else job.epoch) as conn:
            await conn.execute(
                update(import_jobs).where(import_jobs.c.id == job.id).values(**values, updated_at=self.clock())
            )

    async def _finish_failed(self, job: Job, detail: str) -> None:
        """Record the failure and its errors (a master of a later epoch may: the job has stopped);
        if this node is no master any more, the next master will."""
        now = self.clock()
        errors = sorted(job.errors, key=lambda e: (e["line"], e["field"]))
        with contextlib.suppress(Interrupted, LeaseNotHeldError, StaleEpochError):
            await self._set(
                job,
                as_master=True,
                status="failed",
                detail=detail,
                error_count=len(errors),
                errors=orjson.dumps(errors[:MAX_LISTED_ERRORS]).decode(),
                finished_at=now,
            )

    async def _fail_orphans(self, conn: AsyncConnection, now: float) -> int:
        """Every unfinished job but the one running here was left by an earlier master."""
        query = update(import_jobs).where(import_jobs.c.status.in_(UNFINISHED))
        if self._active is not None:
            query = query.where(import_jobs.c.id != self._active.id)
        done = await conn.execute(
            query.values(
                status="failed",
                detail="interrupted: the master changed while it ran; nothing was written",
                updated_at=now,
                finished_at=now,
            )
        )
        return int(done.rowcount or 0)

    async def sweep(self) -> int:
        """As the master: mark the jobs earlier masters left unfinished as failed."""
        self.fence()  # as the master only
        async with self._orphan_lock:
            async with self.database.read() as conn:
                unfinished = set(
                    (await conn.execute(select(import_jobs.c.id).where(import_jobs.c.status.in_(UNFINISHED)))).scalars()
                )
            if self._active is not None:
                unfinished.discard(self._active.id)
            if not unfinished:
                return 0
            async with self.writer.write() as conn:
                swept = await self._fail_orphans(conn, self.clock())
        log.warning("marked interrupted import jobs as failed", extra={"jobs": swept})
        return swept

    async def run(self) -> None:
        while not self._stopped:
            try:
                await self.sweep()
            except (LeaseNotHeldError, StaleEpochError):
                pass  # the master sweeps
            except Exception:
                log.exception("the import job sweep failed; trying again")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SWEEP_SECONDS):
                    await self._wake.wait()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    async def close(self) -> None:
        """Stop a running job (it records itself as interrupted), then the worker."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.pool.close()

    async def idle(self) -> None:
        """Wait for the running job, if any (tests, benchmarks)."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._task)


async def start_jobs(ctx: NodeContext, stack: AsyncExitStack) -> JobRunner:
    runner = JobRunner(ctx.writer, ctx.node.id, WorkerPool())
    stack.push_async_callback(runner.close)
    run_in_background(stack, runner.run(), runner.stop)
    return runner


def jobs_of(request: Request) -> JobRunner:
    runner = context_of(request).jobs
    if runner is None:
        raise NotFound("this service runs no imports")
    return runner


def accepted(job: Job) -> Response:
    """202 with the job's URL (Location) and its id."""
    body = {"id": job.id, "kind": job.kind, "status": "queued", "url": job.url}
    return Response(orjson.dumps(body), status_code=202, media_type="application/json", headers={"Location": job.url})


def job_json(row: Row[Any]) -> bytes:
    """The job's answer; errors and result are spliced in as stored (not parsed and re-encoded)."""
    return orjson.dumps(
        {
            "id": row.id,
            "kind": row.kind,
            "url": job_url(row.id),
            "status": row.status,
            "progress": {"phase": row.phase, "rows_done": row.rows_done, "rows_total": row.rows_total},
            "submitted_by": row.submitted_by,
            "created_at": iso(row.created_at),
            "updated_at": iso(row.updated_at),
            "finished_at": None if row.finished_at is None else iso(row.finished_at),
            "detail": row.detail,
            "error_count": row.error_count,
            "errors_listed": min(row.error_count, MAX_LISTED_ERRORS),
            "errors": orjson.Fragment(row.errors or "[]"),
            "result": orjson.Fragment(row.result or "null"),
        }
    )


async def get_job(request: Request) -> Response:
    """An import job: its status, progress, every error, and its result.
    ---
    summary: An import job
    description: "status: queued, running, succeeded (result: ids created), failed (detail, and
      errors: every bad row as {line, field, reason}, the first 1000 listed and error_count all).
      progress: phase (parsing, validating, checking, hashing, writing, done), rows_done of rows_total."
    tags: [imports]
    security: [{bearer: []}]
    parameters: [{in: path, name: id, required: true, schema: {type: integer}}]
    responses:
      "200":
        description: "The job"
        content: {application/json: {schema: {$ref: "#/components/schemas/ImportJob"}}}
      "403": {description: "Not an admin, or a job a super_admin submitted"}
      "404": {description: "No such job"}
    """
    actor = await authenticate(request, *ADMINS)
    async with context_of(request).database.read() as conn:
        row = (await conn.execute(select(import_jobs).where(import_jobs.c.id == request.path_params["id"]))).first()
    if row is None:
        raise NotFound(f"no import job {request.path_params['id']}")
    if row.submitted_role == "super_admin" and actor.role != "super_admin":
        raise Forbidden("only a super_admin reads the jobs a super_admin submitted")
    return Response(job_json(row), media_type="application/json")


def job_routes() -> list[BaseRoute]:
    return [Route("/imports/{id:int}", get_job, methods=["GET"])]
