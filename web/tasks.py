"""Background tasks of the server process."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel(task: asyncio.Task[Any] | None) -> None:
    """Cancels a background task and waits until it has stopped."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def running(task: asyncio.Task[None] | None) -> bool:
    """Whether a background task that was started is still running (one never started is not
    a failure)."""
    return task is None or not task.done()
