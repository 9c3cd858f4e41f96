"""`?page=&page_size=` for every list endpoint, capped."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request

from services.common import instants
from services.common.problems import ValidationFailed

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
_NUMBER = re.compile(r"-?[0-9]{1,18}(\.[0-9]{1,9})?")
_MAX_DIGITS = 18  # below 2**63: every database integer column takes it


@dataclass(frozen=True)
class PageRequest:
    number: int
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    def body(self, items: list[Any], total: int) -> dict[str, Any]:
        return {"items": items, "page": self.number, "page_size": self.size, "total": total}


def whole_number(raw: str) -> int | None:
    """`raw` as a whole number if it is ASCII digits that fit a 64-bit column, else None.

    `str.isdigit` alone is not enough: it accepts `²` and other Unicode digits that
    `int` refuses, and a number past 64 bits overflows the database driver.
    """
    if raw.isascii() and raw.isdigit() and len(raw) <= _MAX_DIGITS:
        return int(raw)
    return None


def number_param(request: Request, name: str) -> int | None:
    """An optional whole-number query parameter (422 naming it if it is not one)."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    value = whole_number(raw)
    if value is None:
        message = f"a whole number of at most {_MAX_DIGITS} digits"
        raise ValidationFailed(f"{name}: {message}", errors=[{"field": name, "message": message}])
    return value


def instant_param(request: Request, name: str) -> float | None:
    """An optional instant query parameter: ISO 8601 with an offset, or Unix seconds (422
    naming it otherwise; `services.common.instants`)."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return instants.unix(float(raw) if _NUMBER.fullmatch(raw) else raw)
    except ValueError as exc:
        raise ValidationFailed(f"{name}: {exc}", errors=[{"field": name, "message": str(exc)}]) from None


async def rows_page(conn: AsyncConnection, query: Select[Any], order: Any, page: PageRequest) -> dict[str, Any]:
    """One page of `query`'s rows (as objects) in `order`, with the total."""
    total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await conn.execute(query.order_by(order).limit(page.size).offset(page.offset))
    return page.body([dict(r._mapping) for r in rows], total)


def page_of(request: Request) -> PageRequest:
    errors = []
    values = {}
    for name, default, top in (("page", 1, 1_000_000), ("page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)):
        value = whole_number(request.query_params.get(name, str(default))) or 0
        if not 1 <= value <= top:
            errors.append({"field": name, "message": f"must be a whole number from 1 to {top}"})
        values[name] = value
    if errors:
        raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)
    return PageRequest(values["page"], values["page_size"])
