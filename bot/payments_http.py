"""The payment use cases wired together, and the HTTP routes VNPT Pay and browsers call.

``POST /payments/vnptpay/ipn``   the gateway's notification (form field ``data`` holding the
                                 JSON object, or the JSON object as the body): answered with
                                 the signed JSON reply as soon as the use case committed (the
                                 messages to the user were written to the outbox with it).
``GET /payments/vnptpay/return`` the payer's browser after paying: an HTML page from the bot's
                                 own records (read only), with a link back to the chat.

The composition root builds :class:`PaymentServices` once (:func:`build_payment_services`),
mounts :func:`payment_routes` on the bot's HTTP server and runs :class:`bot.reconciler.
PaymentReconciler` with the same services.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from aiogram import Bot
from aiohttp import web

from bot.http import RouteDef
from bot.i18n import I18n
from domain.catalog import Catalog
from domain.payments import PaymentGateway
from domain.ports import Clock, UnitOfWork
from domain.usecases.payments import (
    ConfirmCash,
    ConfirmPayment,
    DescribePayment,
    ExpireOrders,
    FindPaymentAttempt,
    ReconcilePayments,
    RecordPaymentFailure,
    RetryPayment,
)
from domain.usecases.registration import StartPayment
from payments.ipn import IpnOutcome, handle_ipn
from payments.return_page import build_return_page
from payments.vnptpay import VnptPayClient

__all__ = [
    "IPN_PATH",
    "RETURN_PATH",
    "ChatUrl",
    "PaymentServices",
    "TelegramChatUrl",
    "build_payment_services",
    "payment_routes",
]

log = logging.getLogger(__name__)

IPN_PATH = "/payments/vnptpay/ipn"
RETURN_PATH = "/payments/vnptpay/return"
#: a notification is a few hundred bytes; anything much larger is not one
MAX_IPN_BYTES = 64 * 1024

#: the page has inline style only: no script, no external resource, no framing
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

ChatUrl = Callable[[], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class PaymentServices:
    """Every payment use case, built once and shared by the HTTP routes, the reconciler and
    the bot's handlers (``retry`` + ``start`` for **Thanh toán lại**, ``confirm_cash`` for
    ``/cash``). ``start`` and ``reconcile`` are None without a gateway."""

    confirm: ConfirmPayment
    fail: RecordPaymentFailure
    retry: RetryPayment
    expire: ExpireOrders
    confirm_cash: ConfirmCash
    find_attempt: FindPaymentAttempt
    describe: DescribePayment
    start: StartPayment | None = None
    reconcile: ReconcilePayments | None = None


def build_payment_services(
    uow: Callable[[], UnitOfWork],
    catalog: Callable[[], Catalog],
    clock: Clock,
    gateway: PaymentGateway | None,
    *,
    reconcile_after: timedelta = timedelta(minutes=5),
) -> PaymentServices:
    """``reconcile_after`` is ``RECONCILE_AFTER_MINUTES``; the unpaid-order lifetime
    (``ORDER_EXPIRY_MINUTES``) is set when orders are placed (``OrderSettings``)."""
    confirm = ConfirmPayment(uow, catalog, clock)
    fail = RecordPaymentFailure(uow, clock)
    return PaymentServices(
        confirm=confirm,
        fail=fail,
        retry=RetryPayment(uow, clock),
        expire=ExpireOrders(uow, clock, confirm, fail, gateway),
        confirm_cash=ConfirmCash(uow, confirm),
        find_attempt=FindPaymentAttempt(uow),
        describe=DescribePayment(uow),
        start=StartPayment(uow, gateway, clock) if gateway is not None else None,
        reconcile=(
            ReconcilePayments(uow, gateway, clock, confirm, fail, after=reconcile_after)
            if gateway is not None
            else None
        ),
    )


class TelegramChatUrl:
    """``https://t.me/<bot username>``, from ``username`` when given, else asked once from
    ``get_username`` (e.g. the Bot API's getMe) and remembered; None while unknown."""

    def __init__(
        self,
        username: str | None = None,
        get_username: Callable[[], Awaitable[str | None]] | None = None,
    ) -> None:
        self._username = username
        self._get_username = get_username

    @classmethod
    def from_bot(cls, bot: Bot) -> TelegramChatUrl:
        """Asks the Bot API's getMe (aiogram remembers the answer)."""

        async def username() -> str | None:
            return (await bot.me()).username

        return cls(get_username=username)

    async def __call__(self) -> str | None:
        if self._username is None and self._get_username is not None:
            try:
                self._username = await self._get_username()
            except Exception as error:
                log.warning("the bot's username could not be read: %s", error)
        return f"https://t.me/{self._username}" if self._username else None


def payment_routes(
    *,
    client: VnptPayClient,
    services: PaymentServices,
    i18n: I18n,
    chat_url: ChatUrl | None = None,
    default_locale: str = "vi",
    on_ipn: Callable[[IpnOutcome], None] | None = None,
) -> list[RouteDef]:
    """The two payment routes for :func:`bot.http.create_http_app` (``extra_routes``).

    ``on_ipn`` sees every notification's outcome (for metrics); it must not raise.
    The reply never waits on Telegram: what the user is told was written to the outbox in
    the transaction that applied the outcome, and the outbox worker sends it.
    """

    async def ipn(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_IPN_BYTES:
            raise web.HTTPRequestEntityTooLarge(
                max_size=MAX_IPN_BYTES, actual_size=request.content_length
            )
        body = await request.read()
        reply, outcome = await handle_ipn(
            body,
            request.content_type,
            client=client,
            confirm=services.confirm,
            fail=services.fail,
            lookup=services.find_attempt,
        )
        if on_ipn is not None:
            with contextlib.suppress(Exception):
                on_ipn(outcome)
        return web.Response(
            text=json.dumps(reply, ensure_ascii=False), content_type="application/json"
        )

    async def return_page(request: web.Request) -> web.Response:
        url = await chat_url() if chat_url is not None else None
        page = await build_return_page(
            request.query,
            client=client,
            describe=services.describe,
            t=i18n.t,
            default_locale=default_locale,
            chat_url=url,
        )
        return web.Response(
            text=page.html, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS
        )

    return [RouteDef("POST", IPN_PATH, ipn), RouteDef("GET", RETURN_PATH, return_page)]
