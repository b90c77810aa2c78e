"""A Bot with the send policy installed as the composition root installs it, for tests and
for the sender processes of the shared-limiter test (``python -m
tests.integration.send_policy_support API_URL TOKEN REDIS_URL PREFIX TAG RATE CHATS...``)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer

from bot.metrics import Metrics
from bot.middlewares import BotApiCallCounter
from bot.session import BotSession
from bot.settings import load_settings
from bot.telegram_policy import send_policy_for


class QuickSession(BotSession):
    """The bot's session without the 250 ms pause aiogram's close() keeps for TLS connections."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def policy_bot(
    api_url: str,
    token: str,
    *,
    redis: Any | None = None,
    redis_prefix: str = "onesme:",
    timeout: float = 60.0,
    metrics: Metrics | None = None,
    **settings: Any,
) -> Bot:
    """``settings`` are Settings fields (``flood_global_rate=10``); as in ``build_app`` the
    policy wraps the call counter, so the counter sees every attempt."""
    values = load_settings(_env_file=None, bot_token=token, telegram_api_url=api_url, **settings)
    session = QuickSession(api=TelegramAPIServer.from_base(api_url), timeout=timeout)
    bot = Bot(token, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    metrics = metrics if metrics is not None else Metrics()
    session.middleware(
        send_policy_for(
            values,
            bot_id=bot.id,
            metrics=metrics,
            redis=redis,
            redis_prefix=redis_prefix,
            request_timeout=float(session.timeout),
        )
    )
    session.middleware(BotApiCallCounter(metrics))
    return bot


async def _send_all(argv: list[str]) -> None:
    from redis.asyncio import Redis

    api_url, token, redis_url, prefix, tag, rate, *chats = argv
    redis = Redis.from_url(redis_url)
    bot = policy_bot(api_url, token, redis=redis, redis_prefix=prefix, flood_global_rate=int(rate))
    try:
        await asyncio.gather(
            *(bot.send_message(int(chat), f"{tag} #{i}") for i, chat in enumerate(chats))
        )
    finally:
        await bot.session.close()
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(_send_all(sys.argv[1:]))
