"""Who may call: internal callers (other nodes and operator tools) by internal token."""

from __future__ import annotations

from starlette.requests import Request

from cluster.errors import InvalidInternalTokenError
from cluster.internal_auth import HEADER
from services.common.auth import ADMINS, authenticate
from services.common.context import context_of
from services.common.problems import Unauthorized


class InternalTokenRequired(Unauthorized):
    slug, title = "internal-token-required", "Internal token required"


def require_internal(request: Request) -> None:
    """Refuse the request unless it carries a valid internal token."""
    token = request.headers.get(HEADER)
    if not token:
        raise InternalTokenRequired(f"this endpoint is for internal callers: send {HEADER}")
    try:
        context_of(request).cluster.tokens.verify(token)
    except InvalidInternalTokenError as exc:
        raise InternalTokenRequired(str(exc)) from None


async def require_internal_or_admin(request: Request) -> None:
    """Internal callers by token; people with an admin role by access token."""
    if request.headers.get(HEADER) or not request.headers.get("authorization"):
        require_internal(request)
    else:
        await authenticate(request, *ADMINS)
