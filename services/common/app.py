"""Build one node's Starlette app from its service's spec."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware

from cluster.config import ClusterConfig, NodeConfig
from cluster.errors import ConfigError, NoHealthyMemberError
from cluster.node import ClusterNode
from services.common.auth import JwksSource, TokenVerifier
from services.common.cluster_routes import CLUSTER_MODELS, cluster_routes
from services.common.context import NodeContext, ServiceSpec
from services.common.hot_path import HotPathMiddleware
from services.common.jobs import job_routes, start_jobs
from services.common.metrics import HttpMetrics
from services.common.middleware import RequestContextMiddleware
from services.common.notifications import notification_routes, start_outbox
from services.common.openapi import docs_routes
from services.common.operations import operations_routes
from services.common.problems import EXCEPTION_HANDLERS
from storage.database import Database
from storage.migrations import migrate
from storage.redis import connect_redis, connect_sentinel
from storage.schemas import MIGRATIONS

log = logging.getLogger("course_selection.app")

VERSION = "0.1.0"


def _connect_redis(config: ClusterConfig) -> Redis:
    settings = config.redis
    if settings.sentinels:
        sentinels = [(a.host, a.port) for a in settings.sentinels]
        return connect_sentinel(sentinels, settings.sentinel_service, config.secret("redis"), settings.max_connections)
    if not settings.url:
        raise ConfigError(["redis.url: no Redis URL: start the node through run.py or set CS_REDIS__URL"])
    return connect_redis(settings.url, settings.max_connections)


def build_app(spec: ServiceSpec, config: ClusterConfig, node: NodeConfig) -> Starlette:
    if node.service != spec.name:
        raise ValueError(f"node {node.id} belongs to {node.service}, not {spec.name}")
    metrics = HttpMetrics(spec.name, node.id)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with AsyncExitStack() as stack:
            database = Database(
                config.database_url(spec.name),
                timeouts=config.database,
                name=f"{spec.name}/{node.id}",
                schema=config.database_schema(spec.name),
            )
            stack.push_async_callback(database.close)
            applied = await migrate(database, MIGRATIONS[spec.name])
            if applied:
                log.info("applied migrations", extra={"versions": applied})
            redis = None
            if spec.uses_redis:
                redis = _connect_redis(config)
                stack.push_async_callback(redis.aclose)
            cluster = ClusterNode(config, node, VERSION)
            await cluster.start()
            metrics.registry.register(cluster.metrics)
            stack.push_async_callback(cluster.stop)  # first to stop: gives the master lease up
            ctx = NodeContext(config, node, spec, cluster, database, redis, metrics, time.monotonic())
            ctx.readiness["database"] = database.ping
            ctx.readiness["raft"] = cluster.check_ready
            if redis is not None:
                client = redis

                async def redis_ready() -> None:
                    await client.ping()

                ctx.readiness["redis"] = redis_ready
            jwks = spec.local_jwks(ctx) if spec.local_jwks else _remote_jwks(cluster)
            ctx.verifier = TokenVerifier(jwks, cluster.raft.model.session_revoked)
            if spec.sends_notifications:
                await start_outbox(ctx, stack)
            if spec.runs_imports:
                ctx.jobs = await start_jobs(ctx, stack)
            if spec.start is not None:
                ctx.service = await spec.start(ctx, stack)
            log.info("node ready to serve", extra={"url": node.url})
            yield {"ctx": ctx}

    return Starlette(
        routes=[
            *operations_routes(),
            *cluster_routes(),
            *docs_routes(spec.title, VERSION, spec.description, {**CLUSTER_MODELS, **spec.models}),
            *(notification_routes() if spec.sends_notifications else []),
            *(job_routes() if spec.runs_imports else []),
            *spec.routes,
        ],
        middleware=[
            *(
                [
                    Middleware(
                        HotPathMiddleware,
                        routes=spec.hot_routes,
                        metrics=metrics,
                        max_body_bytes=config.http.max_body_bytes,
                    )
                ]
                if spec.hot_routes
                else []
            ),
            Middleware(
                RequestContextMiddleware,
                max_body_bytes=config.http.max_body_bytes,
                max_import_bytes=config.http.max_import_bytes,
                metrics=metrics,
            ),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )


def _remote_jwks(cluster: ClusterNode) -> JwksSource:
    """Fetch the signing keys from a healthy login node (found in the membership)."""

    async def fetch() -> dict[str, Any]:
        now = time.time()
        logins = [
            m
            for m in cluster.raft.model.members.values()
            if m.service == "login" and m.healthy(now, cluster.config.raft.member_down_after_seconds)
        ]
        if not logins:
            raise NoHealthyMemberError("no login node is up")
        response = await cluster.client.call(logins[0].url, "GET", "/.well-known/jwks.json")
        response.raise_for_status()
        keys: dict[str, Any] = response.json()
        return keys

    return fetch
