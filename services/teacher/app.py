"""The Teacher service's app."""

from __future__ import annotations

from starlette.applications import Starlette

from cluster.config import ClusterConfig, NodeConfig
from services.common.app import build_app
from services.common.context import ServiceSpec
from services.common.course_models import COURSE_MODELS
from services.common.teaching import TEACHING_MODELS
from services.teacher.routes import teacher_routes

SPEC = ServiceSpec(
    name="teacher",
    title="Teacher",
    description="Teacher-facing operations: own courses, rosters, permits and exports.",
    routes=tuple(teacher_routes()),
    models={**TEACHING_MODELS, **COURSE_MODELS},
)


def create_app(config: ClusterConfig, node: NodeConfig) -> Starlette:
    return build_app(SPEC, config, node)
