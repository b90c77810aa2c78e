"""Payment outcomes told in Telegram: the domain's :class:`PaymentNotifier`, on the app's Bot.

Called after the use case committed (by the IPN route, the reconciler and the ``/cash``
backend). What is said is built as screens in :mod:`conversations.payment`; this module only
decides who hears it and sends it, in the order's language:

- a success goes to every chat of ``result.chat_ids`` (the chat the order was placed from,
  then the business owners), except, for cash, the staff member who confirmed it (they see
  the result of their own command);
- a failure or cancellation, and an expiry, go to the order's chat.

Sending never raises: a chat that blocked the bot, or any other error, is logged and the next
chat is tried. The payment stays applied whatever happens here.
"""

from __future__ import annotations

import logging

from aiogram import Bot

from bot.i18n import LANGUAGES
from bot.render import Renderer
from conversations.payment import expired_screen, failure_screen, success_screen
from conversations.screens import Screen
from conversations.session import Outgoing
from domain.model import PaymentMethod
from domain.usecases.payments import OrderExpired, PaymentConfirmed, PaymentFailed

__all__ = ["TelegramPaymentNotifier"]

log = logging.getLogger(__name__)


class TelegramPaymentNotifier:
    """:class:`domain.usecases.payments.PaymentNotifier` sending through ``bot``."""

    def __init__(self, bot: Bot, renderer: Renderer, *, default_locale: str = "vi") -> None:
        self._bot = bot
        self._renderer = renderer
        self._default_locale = default_locale

    async def payment_succeeded(self, result: PaymentConfirmed) -> None:
        chats = result.chat_ids
        if result.method is PaymentMethod.BY_CASH and result.actor_id is not None:
            chats = tuple(chat for chat in chats if chat != result.actor_id)
        screen = success_screen(result)
        for chat in chats:
            await self._send(chat, result.locale, screen, result.order_code)

    async def payment_failed(self, result: PaymentFailed) -> None:
        if result.chat_id is not None:
            await self._send(
                result.chat_id, result.locale, failure_screen(result), result.order_code
            )

    async def order_expired(self, result: OrderExpired) -> None:
        if result.chat_id is not None:
            await self._send(
                result.chat_id, result.locale, expired_screen(result), result.order_code
            )

    async def _send(self, chat_id: int, locale: str, screen: Screen, order_code: str) -> None:
        lang = locale if locale in LANGUAGES else self._default_locale
        try:
            await self._renderer.send_outgoing(self._bot, Outgoing(chat_id, lang, screen))
        except Exception:
            log.exception("telling chat %s about order %s failed", chat_id, order_code)
