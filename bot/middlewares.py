"""Middlewares: the update gate (de-duplication, who wrote, latency) and the Bot API call
counter.

The gate runs once per update before any routing (``bot.handlers.UpdateRoute`` calls it with
the update and its handler, as aiogram called an outer middleware of the ``update``
observer). It asks the :class:`UpdateDeduper` (Redis or an in-process window) whether the
update was handled to the end already; a repeat — Telegram re-sending a webhook, a replica
restarting mid-batch — is skipped. An update is marked done only after it was handled
(the chat flow as it releases the chat's lock, the gate afterwards for everything else), so the
redelivery of an update whose replica was killed mid-way runs on another replica. It never
touches the database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import TelegramObject, Update

from bot.contacts import ContactRecorder, contact_of
from bot.metrics import Metrics
from domain.ports import UpdateDeduper

__all__ = ["BotApiCallCounter", "FirstRead", "UpdateGate", "done", "mark_done"]

log = logging.getLogger(__name__)


class FirstRead(Protocol):
    """Whether an update was handled to the end, and the contact cache's entry for its sender,
    asked together (one round trip on Redis: :class:`bot.contacts.RedisFirstRead`)."""

    async def __call__(self, update_id: int, user_id: int) -> tuple[bool, str | None]: ...

    async def leave(self) -> None:
        """Called once the update read is handled or skipped (what the read took is given
        back); never raises."""
        ...


class UpdateGate(BaseMiddleware):
    """Skips an update handled before, records its sender (``contacts``: see
    ``bot.contacts``), times it, and marks it done once handled. With ``first_read`` the
    de-duplication check and the contact cache's read are one call; when it fails, each is
    asked on its own."""

    def __init__(
        self,
        deduper: UpdateDeduper,
        metrics: Metrics,
        contacts: ContactRecorder | None = None,
        first_read: FirstRead | None = None,
    ) -> None:
        self.deduper = deduper
        self.metrics = metrics
        self.contacts = contacts
        self.first_read = first_read

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        update_id = event.update_id
        contacts = self.contacts
        contact = contact_of(event) if contacts is not None else None
        cached: str | None = None
        read = False
        if contact is not None and self.first_read is not None:
            try:
                handled, cached = await self.first_read(update_id, contact.user_id)
                read = True
            except Exception as error:
                log.warning("update %s: first read failed (%s), asking apart", update_id, error)
        if not read:
            handled = await done(self.deduper, update_id)
        try:
            if handled:
                self.metrics.duplicates.inc()
                log.info("update %s handled before: skipped", update_id)
                return None
            started = time.perf_counter()
            try:
                if contacts is not None:
                    member = event.my_chat_member
                    if member is not None:
                        if (
                            member.chat.type == "private"
                            and member.new_chat_member.status == "kicked"
                        ):
                            await contacts.blocked(member.from_user.id)
                    elif contact is not None:
                        if read:
                            await contacts.seen_as(contact, cached)
                        else:
                            await contacts.seen(contact)
                result = await handler(event, data)
            finally:
                self.metrics.latency.observe(time.perf_counter() - started)
            await mark_done(self.deduper, update_id)
            return result
        finally:
            if read and self.first_read is not None:
                # a chat lock the read took for the update's turn, if no turn took it over
                await self.first_read.leave()


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
    """Counts Bot API requests by method and outcome (``ok`` / ``error``).

    The counter's children are looked up once per method and outcome (prometheus'
    ``labels()`` costs about 1 µs a call, a dict lookup a tenth of it)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._children: dict[tuple[type[Any], str], Any] = {}

    def _child(self, kind: type[Any], outcome: str) -> Any:
        child = self._children.get((kind, outcome))
        if child is None:
            name = kind.__name__
            name = name[:1].lower() + name[1:]
            child = self._children[(kind, outcome)] = self.metrics.bot_api_calls.labels(
                name, outcome
            )
        return child

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            response = await make_request(bot, method)
        except Exception:
            self._child(type(method), "error").inc()
            raise
        self._child(type(method), "ok").inc()
        return response
