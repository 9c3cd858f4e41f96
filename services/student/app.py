"""The Student service's app."""

from __future__ import annotations

from starlette.applications import Starlette

from cluster.config import ClusterConfig, NodeConfig
from services.common.app import build_app
from services.common.context import ServiceSpec
from services.common.plan_contract import PlanIn
from services.console.routes import console_routes, start_console
from services.student.routes import MODELS, student_routes
from services.student.routes_catalogue import catalogue_routes
from services.student.routes_plan import plan_routes

SPEC = ServiceSpec(
    name="student",
    title="Student",
    description=(
        "Student-facing operations: the catalogue for me, enroll, drop, swap, my enrollments and waitlist"
        " positions, my timetable (JSON or iCalendar), my plan (saved, validated, submitted at opening)."
        " Its nodes also serve the web console at `/` (docs/console.md)."
    ),
    routes=(*student_routes(), *catalogue_routes(), *plan_routes(), *console_routes()),
    models={**MODELS, "PlanIn": PlanIn},
    start=start_console,
)


def create_app(config: ClusterConfig, node: NodeConfig) -> Starlette:
    return build_app(SPEC, config, node)
