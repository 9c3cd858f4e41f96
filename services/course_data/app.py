"""The Course data service's app."""

from __future__ import annotations

from starlette.applications import Starlette

from cluster.config import ClusterConfig, NodeConfig
from services.common.app import build_app
from services.common.context import ServiceSpec

SPEC = ServiceSpec(
    name="course_data",
    title="Course data",
    description="The registrar ledger: courses, meeting times, capacity, enrollments, waitlists, windows and holds.",
    uses_redis=False,
)


def create_app(config: ClusterConfig, node: NodeConfig) -> Starlette:
    return build_app(SPEC, config, node)
