"""What the course_data service keeps for its lifetime: the ledger and the catalogue's page cache."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass

from starlette.requests import Request

from services.common.context import NodeContext, context_of
from services.course_data.ledger import Ledger
from services.course_data.page_cache import PageCache


@dataclass(frozen=True)
class CourseData:
    ledger: Ledger
    pages: PageCache


def course_data_of(request: Request) -> CourseData:
    return context_of(request).state(CourseData)


def ledger_of(request: Request) -> Ledger:
    return course_data_of(request).ledger


async def start_course_data(ctx: NodeContext, stack: AsyncExitStack) -> CourseData:
    pages = PageCache(lambda: ctx.cluster.settings().course.catalogue_cache_seconds)
    ctx.database.after_write(pages.clear)
    return CourseData(Ledger(lambda: ctx.cluster.settings().course), pages)
