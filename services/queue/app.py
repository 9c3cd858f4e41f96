"""The Queue buffer service's app: the registration rush path."""

from __future__ import annotations

from starlette.applications import Starlette

from cluster.config import ClusterConfig, NodeConfig
from services.common.app import build_app
from services.common.context import ServiceSpec
from services.common.enrollment_contract import (
    EnrollmentChange,
    QueuedAnswer,
    QueuedView,
    QueueRequestPage,
    StudentChange,
)
from services.common.plan_contract import StudentPlan
from services.queue.routes import queue_routes, submit
from services.queue.routes_desk import desk_routes
from services.queue.state import start_queue

SPEC = ServiceSpec(
    name="queue",
    title="Queue buffer",
    description=("The registration rush: admission into Redis streams, decisions in batches by the ledger, results."),
    routes=(*queue_routes(), *desk_routes()),
    hot_routes={("POST", "/queue/requests"): submit},
    models={
        "EnrollmentChange": EnrollmentChange,
        "QueuedAnswer": QueuedAnswer,
        "QueuedView": QueuedView,
        "StudentChange": StudentChange,
        "QueueRequestPage": QueueRequestPage,
        "StudentPlan": StudentPlan,
    },
    uses_redis=True,
    start=start_queue,
)


def create_app(config: ClusterConfig, node: NodeConfig) -> Starlette:
    return build_app(SPEC, config, node)
