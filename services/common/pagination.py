"""`?page=&page_size=` for every list endpoint, capped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
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


def number_param(request: Request, name: str) -> int | None:
    """An optional whole-number query parameter (422 naming it if it is not one)."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise ValidationFailed(f"{name}: a number", errors=[{"field": name, "message": "a number"}])
    return int(raw)


async def rows_page(conn: AsyncConnection, query: Select[Any], order: Any, page: Page) -> dict[str, Any]:
    """One page of `query`'s rows (as objects) in `order`, with the total."""
    total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await conn.execute(query.order_by(order).limit(page.size).offset(page.offset))
    return page.body([dict(r._mapping) for r in rows], total)


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
