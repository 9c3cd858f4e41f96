"""What a node's handlers share, created by the lifespan and read from `request.state`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.routing import BaseRoute

from cluster.config import ClusterConfig, NodeConfig
from cluster.master_writer import MasterWriter
from cluster.node import ClusterNode
from services.common.auth import JwksSource, TokenVerifier
from services.common.metrics import HttpMetrics
from storage.database import Database

if TYPE_CHECKING:
    from services.common.jobs import JobRunner

ReadinessCheck = Callable[[], Awaitable[None]]
S = TypeVar("S")


@dataclass(frozen=True)
class ServiceSpec:
    """What makes one service: its routes, models for the spec, and what it needs."""

    name: str
    title: str
    description: str
    routes: tuple[BaseRoute, ...] = ()
    models: Mapping[str, type[BaseModel]] = field(default_factory=dict)
    uses_redis: bool = False
    # Its master delivers the notification outbox (services/common/outbox.py).
    sends_notifications: bool = False
    # Service-specific resources, created after the shared ones and closed through the stack.
    start: Callable[[NodeContext, AsyncExitStack], Awaitable[object]] | None = None
    # (method, path) -> raw handler, answered by services/common/hot_path.py ahead of the rest.
    hot_routes: Mapping[tuple[str, str], Callable[..., Awaitable[Any]]] = field(default_factory=dict)
    # It has CSV imports, run as jobs by its master (services/common/jobs.py).
    runs_imports: bool = False
    # Where this service reads the token signing keys; default: a login node over HTTP.
    local_jwks: Callable[[NodeContext], JwksSource] | None = None


@dataclass
class NodeContext:
    config: ClusterConfig
    node: NodeConfig
    spec: ServiceSpec
    cluster: ClusterNode
    database: Database
    redis: Redis | None
    metrics: HttpMetrics
    started_at: float
    verifier: TokenVerifier = field(init=False)
    service: object = None  # what the spec's `start` returned: read it with `state(ItsClass)`
    readiness: dict[str, ReadinessCheck] = field(default_factory=dict)
    jobs: JobRunner | None = None  # when the spec runs imports
    writer: MasterWriter = field(init=False)  # this node's one way to write as the master

    def __post_init__(self) -> None:
        self.writer = MasterWriter(self.database, self.cluster.master)

    def state(self, kind: type[S]) -> S:
        """This service's own state (what its spec's `start` returned), typed as its class:
        each service's accessor (`queue_of`, `login_of`, `course_data_of`) asks for its own."""
        state = self.service
        if not isinstance(state, kind):
            raise TypeError(f"{self.spec.name} keeps {type(state).__name__}, not {kind.__name__}")
        return state

    def master_write(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A write transaction as this service's master: fenced by its lease, and stepping the
        node down if fencing refuses it (`cluster/master_writer.py`). Routes write through this."""
        return self.writer.write()


def context_of(request: Request) -> NodeContext:
    ctx: NodeContext = request.state.ctx
    return ctx
