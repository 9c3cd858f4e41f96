"""The queue's reads of saved plans (issue 16): the submissions that arrive together are read
in one call, one that arrives while a read is under way is read by the next (never by a read
that began before it), and a read that fails fails every submission it was for."""

from __future__ import annotations

import asyncio

from services.common.calls import DependencyUnavailable
from services.queue.plans import Items, PlanReader
from tests.kit.waiting import eventually


async def test_submissions_that_arrive_together_are_read_in_one_call() -> None:
    calls: list[list[int]] = []
    release = asyncio.Event()
    saved = {1: [[10, 11]], 2: [[20]], 3: [[30]]}

    async def fetch(students: list[int]) -> dict[int, Items]:
        calls.append(students)
        read = {s: saved[s] for s in students if s in saved}  # what the database has as the read begins
        await release.wait()
        return read

    reader = PlanReader(fetch)
    first = asyncio.create_task(reader.items(1))
    await eventually(lambda: calls, 5, "the first read under way")
    saved[1] = [[12]]  # saved after that read began: a submission from now on must see it
    later = [asyncio.create_task(reader.items(s)) for s in (1, 2, 3, 4, 2)]
    await asyncio.sleep(0)
    assert calls == [[1]]  # they wait for the read under way to end
    release.set()
    assert await first == [[10, 11]]
    assert await asyncio.gather(*later) == [[[12]], [[20]], [[30]], [], [[20]]]
    assert calls == [[1], [1, 2, 3, 4]]  # one read for the burst, each student once


async def test_a_failed_read_fails_every_submission_it_was_for_and_the_next_reads_again() -> None:
    failing = True

    async def fetch(students: list[int]) -> dict[int, Items]:
        await asyncio.sleep(0)
        if failing:
            raise DependencyUnavailable("course_data is away")
        return {s: [[s]] for s in students}

    reader = PlanReader(fetch)
    tried = await asyncio.gather(*(reader.items(s) for s in (1, 2)), return_exceptions=True)
    assert all(isinstance(e, DependencyUnavailable) for e in tried), tried
    failing = False
    assert await reader.items(5) == [[5]]
