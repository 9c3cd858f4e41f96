"""The login service's app."""

from __future__ import annotations

from starlette.applications import Starlette

from cluster.config import ClusterConfig, NodeConfig
from services.common.app import build_app
from services.common.context import ServiceSpec
from services.login.models import MODELS
from services.login.password_tokens import PasswordSet, password_token_routes
from services.login.routes_auth import auth_routes
from services.login.routes_directory import DIRECTORY_MODELS, directory_routes
from services.login.routes_settings import settings_routes
from services.login.routes_users import user_routes
from services.login.state import local_jwks, start_login

SPEC = ServiceSpec(
    name="login",
    title="Login",
    description="Users, roles, passwords, sessions, two-factor authentication, the keys that sign access "
    "tokens, and the cluster-wide settings.",
    routes=(*auth_routes(), *password_token_routes(), *user_routes(), *settings_routes(), *directory_routes()),
    models={**MODELS, **DIRECTORY_MODELS, "PasswordSet": PasswordSet},
    uses_redis=True,
    sends_notifications=True,
    runs_imports=True,
    start=start_login,
    local_jwks=local_jwks,
)


def create_app(config: ClusterConfig, node: NodeConfig) -> Starlette:
    return build_app(SPEC, config, node)
