"""`/cluster/*` on every node: status, the master write check, membership changes."""

from __future__ import annotations

import asyncio
import logging
import re
import time

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cluster.errors import RaftError
from services.common.answers import JSONResponse
from services.common.body import read_json
from services.common.context import context_of
from services.common.forwarding import on_master
from services.common.internal import require_internal, require_internal_or_admin
from services.common.problems import Conflict, NotFound, ServiceUnavailable, ValidationFailed
from storage.schemas.core import write_checks

log = logging.getLogger("course_selection.cluster")
_ADDRESS = re.compile(r"^[A-Za-z0-9.-]+:\d{1,5}$")


class WriteCheck(BaseModel):
    pause_ms: int = Field(
        default=0, ge=0, le=30_000, description="failpoint: take the epoch, pause, then write with that epoch"
    )
    pause_in_transaction_ms: int = Field(
        default=0, ge=0, le=30_000, description="failpoint: pause inside the write's transaction, before commit"
    )


class NewMember(BaseModel):
    node_id: str = Field(min_length=1, max_length=64)
    raft: str = Field(description="host:port of the new node's Raft endpoint")


async def status(request: Request) -> Response:
    """The cluster as this node sees it.
    ---
    summary: Cluster status
    description: Raft state, term, leader, quorum and commit index of this node; every member with
      its service, URL, health and last heartbeat; the master and epoch of each service.
    tags: [cluster]
    parameters:
      - {in: header, name: X-Internal-Token, required: false, schema: {type: string}}
    security: [{bearer: []}, {}]
    responses:
      "200":
        description: "The status"
        content: {application/json: {schema: {$ref: "#/components/schemas/ClusterStatus"}}}
      "401": {description: "No valid internal token or access token"}
      "403": {description: "Not an admin"}
    """
    await require_internal_or_admin(request)
    return JSONResponse(context_of(request).cluster.status())


async def replicated_state(request: Request) -> Response:
    """Digests of this node's replicated state, to compare across nodes.
    ---
    summary: Replicated state digests
    description: The number of state-machine commands applied, and a digest of the canonical dump of
      the replicated state after every 16th command (the last 64), both for the app's read replica
      and for its Raft agent. Equal digests at equal counts on every node prove the state identical.
    tags: [cluster]
    parameters:
      - $ref: "#/components/parameters/InternalToken"
    responses:
      "200":
        description: "The digests"
        content: {application/json: {schema: {$ref: "#/components/schemas/ReplicatedState"}}}
      "401": {description: "No valid internal token"}
    """
    require_internal(request)
    return JSONResponse(context_of(request).cluster.replicated_state())


async def write_check(request: Request) -> Response:
    """Commit one row through this service's master, fenced by its epoch.
    ---
    summary: Master write check
    description: Proves the write path works end to end. Sent to a slave, it is forwarded to the
      master. Answers which node wrote and with which epoch.
    tags: [cluster]
    parameters:
      - $ref: "#/components/parameters/InternalToken"
    requestBody:
      required: false
      content:
        application/json:
          schema: {$ref: "#/components/schemas/WriteCheck"}
    responses:
      "200":
        description: "Written"
        content: {application/json: {schema: {$ref: "#/components/schemas/WriteCheckDone"}}}
      "503": {description: "No master right now, or this master was fenced"}
    """
    ctx = context_of(request)
    check = await read_json(request, WriteCheck) if await request.body() else WriteCheck()
    for name in ("pause_ms", "pause_in_transaction_ms"):
        if getattr(check, name) and not ctx.config.debug.failpoints:
            raise ValidationFailed(
                f"{name} needs debug.failpoints", errors=[{"field": name, "message": "failpoints are off"}]
            )
    scope, epoch = ctx.cluster.master.fence()
    pinned = None
    if check.pause_ms:  # the stale epoch itself reaches the database: its own rule must refuse it
        log.warning("failpoint: pausing before the fenced write", extra={"epoch": epoch, "pause_ms": check.pause_ms})
        await asyncio.sleep(check.pause_ms / 1000)
        pinned = (scope, epoch)
    async with ctx.writer.write(pinned=pinned) as conn:
        result = await conn.execute(
            write_checks.insert().values(node_id=ctx.node.id, epoch=epoch, written_at=time.time())
        )
        row_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
        if check.pause_in_transaction_ms:  # holding the fencing row's lock and the written row
            log.warning(
                "failpoint: pausing inside the fenced write",
                extra={"epoch": epoch, "row": row_id, "pause_ms": check.pause_in_transaction_ms},
            )
            await asyncio.sleep(check.pause_in_transaction_ms / 1000)
    return JSONResponse({"id": row_id, "node": ctx.node.id, "epoch": epoch})


async def add_member(request: Request) -> Response:
    """Add a node to the Raft group (one change at a time); start the node afterwards.
    ---
    summary: Add a cluster member
    tags: [cluster]
    parameters:
      - $ref: "#/components/parameters/InternalToken"
    requestBody:
      required: true
      content:
        application/json:
          schema: {$ref: "#/components/schemas/NewMember"}
    responses:
      "200":
        description: "Added; start the node now"
        content: {application/json: {schema: {$ref: "#/components/schemas/MemberAdded"}}}
      "409": {description: "Already a member"}
    """
    require_internal(request)
    ctx = context_of(request)
    new = await read_json(request, NewMember)
    if not _ADDRESS.match(new.raft):
        raise ValidationFailed("raft: not a host:port address", errors=[{"field": "raft", "message": "host:port"}])
    raft = ctx.cluster.raft
    if new.raft == raft.address or new.raft in raft.status().partners:
        raise Conflict(f"{new.raft} is already a member of the Raft group")
    try:
        await raft.add_node(new.raft)
    except RaftError as exc:
        raise ServiceUnavailable(f"the change did not commit: {exc.reason}", headers={"Retry-After": "1"}) from None
    log.info("added a Raft member", extra={"member": new.node_id, "raft": new.raft})
    return JSONResponse({"added": new.node_id, "raft": new.raft})


async def remove_member(request: Request) -> Response:
    """Remove a node from the Raft group and the membership; stop it afterwards.
    ---
    summary: Remove a cluster member
    tags: [cluster]
    parameters:
      - $ref: "#/components/parameters/InternalToken"
      - {in: path, name: node_id, required: true, schema: {type: string}}
    responses:
      "200":
        description: "Removed"
        content: {application/json: {schema: {$ref: "#/components/schemas/MemberRemoved"}}}
      "404": {description: "No such member"}
      "409": {description: "A node cannot remove itself; ask another node"}
    """
    require_internal(request)
    ctx = context_of(request)
    node_id = request.path_params["node_id"]
    raft = ctx.cluster.raft
    member = raft.model.members.get(node_id)
    if member is None:
        raise NotFound(f"no member {node_id!r}")
    if member.raft == raft.address:
        raise Conflict("a node cannot remove itself: send this to another node")
    try:
        if member.raft in raft.status().partners:
            await raft.remove_node(member.raft)
        await raft.forget(node_id)
    except RaftError as exc:
        raise ServiceUnavailable(f"the change did not commit: {exc.reason}", headers={"Retry-After": "1"}) from None
    log.info("removed a Raft member", extra={"member": node_id, "raft": member.raft})
    return JSONResponse({"removed": node_id})


def cluster_routes() -> list[BaseRoute]:
    return [
        Route("/cluster/status", status, methods=["GET"]),
        Route("/cluster/state", replicated_state, methods=["GET"]),
        Route("/cluster/write-check", on_master(write_check, authorize=require_internal), methods=["POST"]),
        Route("/cluster/members", add_member, methods=["POST"]),
        Route("/cluster/members/{node_id}", remove_member, methods=["DELETE"]),
    ]


CLUSTER_MODELS: dict[str, type[BaseModel]] = {"WriteCheck": WriteCheck, "NewMember": NewMember}
