"""The JSON answer every route gives: starlette's, with its instants as ISO 8601.

Routes build answers from rows, where an instant is a Unix time; `services.common.instants`
renders those fields at this one place on the way out, so no route formats a time itself.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse as _StarletteJSON

from services.common.instants import render


class JSONResponse(_StarletteJSON):
    def render(self, content: Any) -> bytes:
        return super().render(render(content))
