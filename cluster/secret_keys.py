"""Which settings are secrets, and how a settings patch shows them: masked.

Apart from `cluster.settings` (which validates with pydantic) because the Raft agent needs
the mask for the settings audit it keeps in the replicated state, and every node starts an
agent: without pydantic (and `limits`) in its imports it is ready about 0.3 s of CPU sooner.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SECRET_KEYS = {("notifications", "smtp_password"), ("notifications", "sms_webhook_token")}
MASK = "********"


def masked_patch(patch: Mapping[str, Any]) -> dict[str, Any]:
    """A settings patch as it may be stored or shown: a secret's value is a mask (null and
    "" stay, so the audit still tells a secret set from one cleared)."""
    shown = {k: dict(v) if isinstance(v, Mapping) else v for k, v in patch.items()}
    for section, key in SECRET_KEYS:
        part = shown.get(section)
        if isinstance(part, dict) and part.get(key) not in (None, ""):
            part[key] = MASK
    return shown
