"""The bot with Telegram's real per-chat interval (1 s; the harness turns it off elsewhere):
its replies to one chat arrive at least a second apart, on the Bot API server's clock."""

from __future__ import annotations

import itertools

from tests.e2e.conftest import BotFactory

MESSAGES = ("sendMessage", "sendPhoto", "sendDocument")


async def test_replies_to_one_chat_keep_a_second_apart(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling", settings={"flood_chat_interval": 1.0})
    assert bot.settings.flood_chat_interval == 1.0
    user = bot.user("An")
    other = bot.user("Bình")
    first = len(bot.state.calls)
    for text in ("/start", "/help", "/start"):
        await user.send(text, wait=False)
    await other.send("/help", wait=False)
    await user.wait_reply(quiet=1.5, timeout=30)
    await other.wait_reply(quiet=1.5, timeout=30)

    calls = [c for c in bot.state.calls[first:] if c.method in MESSAGES]
    mine = [c for c in calls if c.chat_id == user.id]
    assert len(mine) >= 3 and all(c.ok for c in mine)
    assert all(b.received_at - a.at >= 1.0 for a, b in itertools.pairwise(mine))
    # another chat is not held up by this one
    (theirs,) = [c for c in calls if c.chat_id == other.id]
    assert theirs.received_at < mine[1].received_at
