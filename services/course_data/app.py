"""The course_data service's app: the registrar ledger."""

from __future__ import annotations

from starlette.applications import Starlette

from cluster.config import ClusterConfig, NodeConfig
from services.common.app import build_app
from services.common.context import ServiceSpec
from services.common.plan_contract import PlanIn, PlansToRead
from services.common.teaching import TEACHING_MODELS
from services.course_data.audit import audit_routes
from services.course_data.desk import desk_routes
from services.course_data.desk_models import DESK_MODELS
from services.course_data.exports import export_routes
from services.course_data.models import MODELS
from services.course_data.plans import plan_routes
from services.course_data.rosters import roster_routes
from services.course_data.routes_admin import admin_routes
from services.course_data.routes_completed import CompletedIn, completed_routes
from services.course_data.routes_courses import course_routes
from services.course_data.routes_ledger import ledger_routes
from services.course_data.routes_students import student_view_routes
from services.course_data.routes_teaching import teaching_routes
from services.course_data.routes_terms import term_routes
from services.course_data.state import start_course_data
from services.course_data.terms import TERM_MODELS

SPEC = ServiceSpec(
    name="course_data",
    title="Course data",
    description="The registrar ledger: terms, courses, meeting times, capacity, enrollments, waitlists, windows "
    "and holds.",
    routes=(
        *course_routes(),
        *term_routes(),
        *admin_routes(),
        *audit_routes(),
        *completed_routes(),
        *ledger_routes(),
        *student_view_routes(),
        *teaching_routes(),
        *desk_routes(),
        *roster_routes(),
        *export_routes(),
        *plan_routes(),
    ),
    models={
        **MODELS,
        **TEACHING_MODELS,
        **DESK_MODELS,
        **TERM_MODELS,
        "CompletedIn": CompletedIn,
        "PlanIn": PlanIn,
        "PlansToRead": PlansToRead,
    },
    start=start_course_data,
    sends_notifications=True,
    runs_imports=True,
)


def create_app(config: ClusterConfig, node: NodeConfig) -> Starlette:
    return build_app(SPEC, config, node)
