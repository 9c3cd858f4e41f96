"""Background loops of a node: started with the app, stopped (politely, then firmly) with it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any

STOP_GRACE_SECONDS = 2.0


def run_in_background(stack: AsyncExitStack, job: Coroutine[Any, Any, None], stop: Callable[[], None]) -> None:
    """Run `job` until the stack closes: then `stop()` asks it to end, and after a grace period it
    is cancelled (a flag, not only a cancellation: 3.11's `wait_for` can swallow one)."""
    task = asyncio.create_task(job)

    async def finish() -> None:
        stop()
        done, _ = await asyncio.wait({task}, timeout=STOP_GRACE_SECONDS)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    stack.push_async_callback(finish)
