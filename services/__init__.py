"""One package per service, each with `create_app(config, node) -> Starlette`."""

from __future__ import annotations

import importlib
from typing import Protocol

from starlette.applications import Starlette

from cluster.config import ClusterConfig, NodeConfig


class AppFactory(Protocol):
    def __call__(self, config: ClusterConfig, node: NodeConfig) -> Starlette: ...


def app_factory(service: str) -> AppFactory:
    """The `create_app` of `service`, imported on demand (a node loads only its own)."""
    module = importlib.import_module(f"services.{service}.app")
    factory: AppFactory = module.create_app
    return factory
