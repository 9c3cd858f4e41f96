"""`/settings`: the cluster-wide settings, replicated through Raft; every change audited."""

from __future__ import annotations

import time
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cluster.errors import RaftError
from cluster.settings import MASK, SECRET_KEYS, Settings, masked, masked_patch, merge_patch
from services.common.answers import JSONResponse
from services.common.auth import ADMINS, authenticate
from services.common.body import read_json
from services.common.context import context_of
from services.common.pagination import page_of
from services.common.problems import ServiceUnavailable, ValidationFailed
from services.login.models import SettingsPatch


async def get_settings(request: Request) -> Response:
    """The cluster-wide settings (secrets masked).
    ---
    summary: Read the settings
    tags: [settings]
    security: [{bearer: []}]
    responses:
      "200":
        description: "security, course, queue, notifications; and the version"
        content: {application/json: {schema: {$ref: "#/components/schemas/SettingsAnswer"}}}
    """
    await authenticate(request, *ADMINS)
    cluster = context_of(request).cluster
    return JSONResponse({**masked(cluster.settings()), "version": cluster.raft.model.settings_version})


async def patch_settings(request: Request) -> Response:
    """Change settings with a JSON merge patch; the whole result is validated first.
    ---
    summary: Change the settings
    description: 'Example: {"security": {"bcrypt_rounds": 11}}. null resets a key to its default.
      A bad value gets 422 naming the key, and nothing changes.'
    tags: [settings]
    security: [{bearer: []}]
    requestBody:
      required: true
      content: {application/json: {schema: {$ref: "#/components/schemas/SettingsPatch"}}}
    responses:
      "200":
        description: "The new settings"
        content: {application/json: {schema: {$ref: "#/components/schemas/SettingsAnswer"}}}
      "403": {description: "Only a super_admin may change settings"}
      "422": {description: "A value is invalid"}
    """
    actor = await authenticate(request, "super_admin")
    patch = _unchanged_secrets_dropped((await read_json(request, SettingsPatch)).patch())
    cluster = context_of(request).cluster
    box = cluster.secret_box
    merged = merge_patch(box.open_settings(cluster.raft.model.settings), patch)
    try:
        validated = Settings.model_validate(merged)
    except ValidationError as exc:
        raise ValidationFailed.of(exc, root="(settings)") from None
    stored = box.seal_settings(validated.model_dump(mode="json", exclude_defaults=True))
    try:
        version = await cluster.raft.update_settings(stored, actor.username, masked_patch(patch), time.time())
    except RaftError as exc:
        raise ServiceUnavailable(f"the change did not commit: {exc.reason}", headers={"Retry-After": "1"}) from None
    return JSONResponse({**masked(validated), "version": version})


def _unchanged_secrets_dropped(patch: dict[str, Any]) -> dict[str, Any]:
    """A secret sent back as the mask GET /settings shows means "leave it as it is"."""
    for section, key in SECRET_KEYS:
        part = patch.get(section)
        if isinstance(part, dict) and part.get(key) == MASK:
            patch[section] = {k: v for k, v in part.items() if k != key}
    return patch


async def settings_audit(request: Request) -> Response:
    """Who changed which settings, and when (newest first).
    ---
    summary: Settings audit
    tags: [settings]
    security: [{bearer: []}]
    responses:
      "200":
        description: "items, page, page_size, total"
        content: {application/json: {schema: {$ref: "#/components/schemas/SettingsChangePage"}}}
    """
    await authenticate(request, *ADMINS)
    page = page_of(request)
    # Masked here too: entries recorded before secrets were masked at the source.
    entries = [
        {**e, "changes": masked_patch(e["changes"])}
        for e in reversed(context_of(request).cluster.raft.model.settings_audit)
    ]
    return JSONResponse(page.body(entries[page.offset : page.offset + page.size], len(entries)))


def settings_routes() -> list[BaseRoute]:
    return [
        Route("/settings", get_settings, methods=["GET"]),
        Route("/settings", patch_settings, methods=["PATCH"]),
        Route("/settings/audit", settings_audit, methods=["GET"]),
    ]
