"""The Queue buffer service's app."""

from __future__ import annotations

from starlette.applications import Starlette

from cluster.config import ClusterConfig, NodeConfig
from services.common.app import build_app
from services.common.context import ServiceSpec

SPEC = ServiceSpec(
    name="queue",
    title="Queue buffer",
    description="The registration rush: admission into a Redis stream, batched decisions, results.",
    uses_redis=True,
)


def create_app(config: ClusterConfig, node: NodeConfig) -> Starlette:
    return build_app(SPEC, config, node)
