"""Middlewares: the update gate (de-duplication, latency) and the Bot API call counter.

The gate is an *outer* middleware on the dispatcher's ``update`` observer, so it runs once per
update before any routing. It asks the :class:`UpdateDeduper` (Redis or an in-process window)
whether the update was handled to the end already; a repeat — Telegram re-sending a webhook, a
replica restarting mid-batch — is skipped. An update is marked done only after it was handled
(the chat flow as it releases the chat's lock, the gate afterwards for everything else), so the
redelivery of an update whose replica was killed mid-way runs on another replica. It never
touches the database.
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

__all__ = ["BotApiCallCounter", "UpdateGate", "done", "mark_done"]

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
        if not isinstance(event, Update):
            return await handler(event, data)
        if await done(self.deduper, event.update_id):
            self.metrics.duplicates.inc()
            log.info("update %s handled before: skipped", event.update_id)
            return None
        started = time.perf_counter()
        try:
            result = await handler(event, data)
        finally:
            self.metrics.latency.observe(time.perf_counter() - started)
        await mark_done(self.deduper, event.update_id)
        return result


async def done(deduper: UpdateDeduper, update_id: int) -> bool:
    """Fails open: when the de-duplicator cannot be asked, the update is handled (a rare
    repeat is better than every user going unanswered)."""
    try:
        return await deduper.done(update_id)
    except Exception as error:
        log.warning("update de-duplication unavailable (%s): handling %s", error, update_id)
        return False


async def mark_done(deduper: UpdateDeduper, update_id: int) -> bool:
    """False when the mark could not be written (logged)."""
    try:
        await deduper.mark_done(update_id)
    except Exception as error:
        log.warning("update %s could not be marked handled: %s", update_id, error)
        return False
    return True


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
