"""The graceful stop (SIGTERM) of the whole running bot ends even when a background loop's
cancel is lost inside a call (``asyncio.wait_for`` on Python 3.11, CPython gh-86296)."""

from __future__ import annotations

import asyncio

from tests.e2e.harness import BotHarness
from tests.unit.test_lost_cancels import LosesFirstCancel, ends


async def test_sigterm_shutdown_ends_when_a_round_loses_its_cancel(
    polling_bot: BotHarness,
) -> None:
    app = polling_bot.app
    assert app is not None
    reconciler = app.container.reconciler
    expire = LosesFirstCancel()
    reconciler._expire = expire  # type: ignore[assignment]
    reconciler.wake()  # a round now: its expiry query is in flight when the bot stops
    await expire.in_flight.wait()
    user = polling_bot.user("An")
    await user.send("/start")  # the bot still answers meanwhile
    assert await ends(polling_bot.stop()), "the shutdown waited for ever"
    assert expire.lost == 1
    assert not reconciler.running
    calls = expire.calls
    for _ in range(5):
        await asyncio.sleep(0)
    assert expire.calls == calls
