"""Middlewares: the update gate (de-duplication, latency) and the Bot API call counter.

The gate is an *outer* middleware on the dispatcher's ``update`` observer, so it runs once per
update before any routing. It asks the :class:`UpdateDeduper` (Redis ``SET NX`` or an in-process
window) whether the update was seen before; a repeat — Telegram re-sending a webhook, a replica
restarting mid-batch — is skipped. It never touches the database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import TelegramObject, Update

from bot.metrics import Metrics
from domain.ports import UpdateDeduper

__all__ = ["BotApiCallCounter", "UpdateGate"]

log = logging.getLogger(__name__)


class UpdateGate(BaseMiddleware):
    def __init__(self, deduper: UpdateDeduper, metrics: Metrics) -> None:
        self.deduper = deduper
        self.metrics = metrics

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if isinstance(event, Update) and await self._seen(event.update_id):
            self.metrics.duplicates.inc()
            log.info("update %s seen before: skipped", event.update_id)
            return None
        started = time.perf_counter()
        try:
            return await handler(event, data)
        finally:
            self.metrics.latency.observe(time.perf_counter() - started)

    async def _seen(self, update_id: int) -> bool:
        """Fails open: when the de-duplicator cannot be asked, the update is handled (a rare
        repeat is better than every user going unanswered)."""
        try:
            return await self.deduper.seen(update_id)
        except Exception as error:
            log.warning("update de-duplication unavailable (%s): handling %s", error, update_id)
            return False


class BotApiCallCounter(BaseRequestMiddleware):
    """Counts Bot API requests by method and outcome (``ok`` / ``error``)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        name = type(method).__name__
        name = name[:1].lower() + name[1:]
        try:
            response = await make_request(bot, method)
        except Exception:
            self.metrics.bot_api_calls.labels(name, "error").inc()
            raise
        self.metrics.bot_api_calls.labels(name, "ok").inc()
        return response
