"""Stopping background tasks when a cancel can be lost.

On Python 3.11 ``asyncio.wait_for`` returns the inner call's result instead of raising
``CancelledError`` when that call completes just as the task is cancelled (CPython gh-86296).
redis-py sends every command with it, and other libraries use it too, so a task cancelled in the
middle of a Redis or HTTP call may go on as if nothing happened. A loop that relies on the cancel
alone then runs on for ever, and whoever awaits it (a shutdown) waits for ever.

The pattern, used by every background loop of the bot:

- a loop checks its own stop flag at each turn (set *before* the cancel), so a lost cancel ends
  it at the next turn at the latest;
- :func:`stop_task` cancels, then waits a bounded time with ``asyncio.wait`` (which neither
  passes a cancel of the caller on to the task nor swallows it) and logs if the task does not
  end: shutdown goes on;
- a ``CancelledError`` is never suppressed around an ``await`` of another task, which would
  swallow a cancel aimed at the caller too.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

__all__ = ["STOP_WAIT_SECONDS", "cancel_requested", "stop_task"]

log = logging.getLogger(__name__)

#: how long :func:`stop_task` waits for a cancelled task by default
STOP_WAIT_SECONDS = 10.0


def cancel_requested() -> bool:
    """Whether the current task has been asked to cancel (even if the ``CancelledError`` was
    lost on the way, as ``asyncio.wait_for`` loses it on Python 3.11)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def stop_task(
    task: asyncio.Task[Any] | None,
    *,
    timeout: float = STOP_WAIT_SECONDS,  # noqa: ASYNC109 - a bounded wait, by design
) -> bool:
    """Cancel ``task`` and wait for it to end, at most ``timeout`` seconds.

    True when it ended (an exception it ended with is raised here, as ``await task`` would);
    False, with a warning, when it is still running (it is left behind, its cancel requested).
    A cancel of the caller is raised, never swallowed."""
    if task is None or task.done():
        return True
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=timeout)
    if not done:
        log.warning(
            "task %s did not end within %.1f s of its cancel (lost inside a call?); left behind",
            task.get_name(),
            timeout,
        )
        return False
    if not task.cancelled():
        task.result()
    return True
