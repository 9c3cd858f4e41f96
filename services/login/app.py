"""The Login service's app."""

from __future__ import annotations

from starlette.applications import Starlette

from cluster.config import ClusterConfig, NodeConfig
from services.common.app import build_app
from services.common.context import ServiceSpec

SPEC = ServiceSpec(
    name="login",
    title="Login",
    description="Users, roles, passwords, sessions and the keys that sign access tokens.",
    uses_redis=False,
)


def create_app(config: ClusterConfig, node: NodeConfig) -> Starlette:
    return build_app(SPEC, config, node)
