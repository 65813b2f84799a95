"""Background tasks: stopping one cleanly."""

from __future__ import annotations

import asyncio
import contextlib


async def cancel_task(task: asyncio.Task | None) -> None:
    """Cancel `task` (None: nothing) and wait until it has stopped."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
