"""`?page=&page_size=` for every list endpoint, capped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from services.common.problems import ValidationFailed

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


@dataclass(frozen=True)
class Page:
    number: int
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    def body(self, items: list[Any], total: int) -> dict[str, Any]:
        return {"items": items, "page": self.number, "page_size": self.size, "total": total}


def page_of(request: Request) -> Page:
    errors = []
    values = {}
    for name, default, top in (("page", 1, 1_000_000), ("page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)):
        raw = request.query_params.get(name, str(default))
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if not 1 <= value <= top:
            errors.append({"field": name, "message": f"must be a whole number from 1 to {top}"})
        values[name] = value
    if errors:
        raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)
    return Page(values["page"], values["page_size"])
