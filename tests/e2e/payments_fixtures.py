"""Fixtures for the payment end-to-end tests: the real bot (polling or webhook) configured with
VNPT Pay pointing at the real simulator over HTTP, a clock the test can move forward, and a
payer who goes through the simulator's pages with plain HTTP, as a browser would.

``shop_factory``  ``await shop_factory(mode="polling" | "webhook", **settings)`` → :class:`Shop`
``shop``          a polling shop

The simulator is ``sandbox.vnptpay`` on a free port; its IPN URL is the bot's
``/payments/vnptpay/ipn`` and its return URL the bot's ``PUBLIC_URL/payments/vnptpay/return``
(registered per merchant service, as the protocol says). It retries a refused notification
once, at once, to keep the tests fast.

Import the fixtures into a test module (their functions are named ``*_fixture`` so the
fixture names stay free for the tests' parameters)::

    from tests.e2e.payments_fixtures import shop_factory_fixture, shop_fixture  # noqa: F401
"""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import httpx
import pytest

import tests.e2e.harness as harness_module
from bot.app import build_app
from bot.payments_http import IPN_PATH, RETURN_PATH
from bot.reconciler import PaymentReconciler
from domain.model import Invoice, Order, PaymentAttempt, Subscription
from sandbox.vnptpay import RunningSimulator, SimulatorConfig, start_simulator
from tests.e2e.botapi_client import ChatUser
from tests.e2e.conftest import BotFactory
from tests.e2e.harness import BotHarness

__all__ = [
    "API_KEY",
    "DECLINED_CARD",
    "GOOD_CARD",
    "MERCHANT_SERVICE_ID",
    "SECRET_KEY",
    "Payment",
    "ShiftedClock",
    "Shop",
    "ShopFactory",
    "money",
    "shop_factory_fixture",
    "shop_fixture",
]

MERCHANT_SERVICE_ID = "ONESME-E2E"
API_KEY = "e2e-api-key"
SECRET_KEY = "e2e-secret-key"
GOOD_CARD = "4111111111111111"
DECLINED_CARD = "4000000000000002"
TAX_CODE = "0103326250"
COMPANY = "Công ty Cổ phần Bình Minh"
NBSP = "\u00a0"
_FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)"')


def money(amount: int) -> str:
    """As the bot and the simulator show it: ``1.800.000 ₫``."""
    return f"{amount:,}".replace(",", ".") + f"{NBSP}₫"


class ShiftedClock:
    """The system time plus an offset the test moves forward (the bot's ``Clock``)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@dataclass
class Payment:
    """What the payer's browser went through: the pages, and where it landed."""

    pay_page: str
    card_page: str
    redirected_to: str
    return_page: str


@dataclass
class Shop:
    """One bot with VNPT Pay, its simulator, its clock, and a browser-like HTTP client."""

    bot: BotHarness
    sim: RunningSimulator
    clock: ShiftedClock
    http: httpx.AsyncClient
    owners: list[ChatUser] = field(default_factory=list)

    # -- people --------------------------------------------------------------------------------

    async def owner(self) -> ChatUser:
        """The owner of a business with a complete invoice profile (one per shop)."""
        if self.owners:
            return self.owners[0]
        user = self.bot.user("Minh", last_name="Trần", phone_number="+84912345678")
        await self.bot.add_enterprise(
            TAX_CODE, COMPANY, address="12 Lê Duẩn, Quận 1, TP. Hồ Chí Minh", email="kt@binhminh.vn"
        )
        await self.bot.grant(user.id, "owner", tax_code=TAX_CODE)
        self.owners.append(user)
        return user

    # -- the registration, through Telegram ----------------------------------------------------

    async def checkout(
        self,
        user: ChatUser,
        service: str,
        plan: str,
        cycle: str,
        *,
        plan_promo: str = "Không áp dụng",
        addons: tuple[str, ...] = (),
        invoice_promo: str = "Không áp dụng",
    ) -> None:
        """The seed's steps 2–9 in the chat, up to and including **Xác nhận**."""
        await user.send("/services")
        await user.press(service)
        await user.press("Bảng giá")
        await user.press(plan)
        await user.press(cycle, prefix=True)
        await user.press("Đăng ký")
        await user.press(plan_promo)
        for addon in addons:
            await user.press(f"⬜ {addon}")
        await user.press("Xong")
        await user.press(invoice_promo)
        await user.press("Tiếp theo")  # step 1 summary
        await user.press("Tiếp theo")  # Thông tin xuất hóa đơn
        await user.press("Tiếp theo")  # Thông tin khách hàng
        await user.send("Trần Văn Minh")
        await user.share_contact()
        await user.send("minh@binhminh.vn")
        await user.press("⬜ Đồng ý với Điều khoản đăng ký dịch vụ")
        await user.press("Thanh toán")
        await user.press("Xác nhận")

    @staticmethod
    def pay_url(user: ChatUser) -> str:
        """The URL of the newest **Thanh toán qua VNPT Pay** button in the chat."""
        for message in reversed(user.bot_messages()):
            for button in message.flat_buttons:
                if button.text == "Thanh toán qua VNPT Pay":
                    assert button.kind == "url" and button.url, button
                    return button.url
        raise AssertionError(f"no payment link in the chat: {user.texts()[-3:]}")

    # -- the payer's browser --------------------------------------------------------------------

    async def pay(self, url: str, card: str = GOOD_CARD, *, cancel: bool = False) -> Payment:
        """The seed's step 10 with plain HTTP: the payment page, **Thẻ thanh toán quốc tế**,
        **Tiếp theo**, the card form and **Thanh toán** (or **Hủy**), then the redirect to the
        bot's return page."""
        assert url.startswith(self.sim.base_url + "/pay/"), url
        page = await self.http.get(url)
        assert page.status_code == 200 and "Thẻ thanh toán quốc tế" in page.text
        assert "Tiếp theo" in page.text
        chosen = await self.http.post(self._action(page), data={"method": "intl", "action": "next"})
        assert chosen.status_code == 303, chosen.text
        card_page = await self.http.get(self._absolute(chosen.headers["location"]))
        assert card_page.status_code == 200 and "Thanh toán" in card_page.text
        form = {"card_number": card, "holder": "TRAN VAN MINH", "expiry": "12/35", "cvv": "123"}
        form["action"] = "cancel" if cancel else "pay"
        paid = await self.http.post(self._action(card_page), data=form)
        assert paid.status_code == 302, paid.text
        location = paid.headers["location"]
        back = await self.http.get(location)
        assert back.status_code == 200
        return Payment(page.text, card_page.text, location, unescape(back.text))

    def _absolute(self, path: str) -> str:
        return path if path.startswith("http") else self.sim.base_url + path

    def _action(self, page: httpx.Response) -> str:
        match = _FORM_ACTION.search(page.text)
        assert match is not None, page.text
        return self._absolute(unescape(match.group(1)))

    # -- the simulator's test endpoints ---------------------------------------------------------

    async def switches(self, **values: Any) -> None:
        response = await self.http.post(f"{self.sim.base_url}/_sim/switches", json=values)
        assert response.status_code == 200, response.text

    async def notifications(self, merchant_order_id: str) -> list[dict[str, Any]]:
        rows = (await self.http.get(f"{self.sim.base_url}/_sim/notifications")).json()
        return [r for r in rows if r["merchant_order_id"] == merchant_order_id]

    async def merchant_order_id(self, url: str) -> str:
        """The merchant order id the simulator recorded for a payment link."""
        token = url.rstrip("/").rsplit("/", 1)[1]
        rows = (await self.http.get(f"{self.sim.base_url}/_sim/transactions")).json()
        [moid] = [r["merchant_order_id"] for r in rows if r["token"] == token]
        return str(moid)

    # -- the bot's records and background ------------------------------------------------------

    def reconciler(self) -> PaymentReconciler:
        [task] = [s for s in self.bot.context().background if isinstance(s, PaymentReconciler)]
        return task

    async def records(
        self, merchant_order_id: str
    ) -> tuple[Order, list[PaymentAttempt], list[Subscription], list[Invoice]]:
        async with self.bot.database.uow as uow:
            attempt = await uow.payments.get_by_merchant_order_id(merchant_order_id)
            assert attempt is not None, merchant_order_id
            order = await uow.orders.get(attempt.order_id)
            assert order is not None
            return (
                order,
                await uow.payments.for_order(order.id),
                await uow.subscriptions.for_order(order.id),
                await uow.invoices.for_order(order.id),
            )


ShopFactory = Callable[..., Awaitable[Shop]]


@pytest.fixture(name="shop_factory")
async def shop_factory_fixture(
    bot_factory: BotFactory, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ShopFactory]:
    clock = ShiftedClock()
    # the harness builds its apps with build_app: give them the test's clock
    monkeypatch.setattr(harness_module, "build_app", functools.partial(build_app, clock=clock))
    simulators: list[RunningSimulator] = []

    async with httpx.AsyncClient(timeout=15.0) as http:

        async def make(mode: str = "polling", **settings: Any) -> Shop:
            config = SimulatorConfig(
                merchant_service_id=MERCHANT_SERVICE_ID,
                api_key=API_KEY,
                secret_key=SECRET_KEY,
                return_url="",
                ipn_url="",
                public_base_url="",
                ipn_retries=1,
                ipn_retry_delay=0.0,
            )
            sim = await start_simulator(config)
            simulators.append(sim)
            values = {
                "vnptpay_url": sim.base_url,
                "vnptpay_merchant_service_id": MERCHANT_SERVICE_ID,
                "vnptpay_api_key": API_KEY,
                "vnptpay_secret_key": SECRET_KEY,
                **settings,
            }
            bot = await bot_factory(mode, settings=values)
            config.ipn_url = bot.http_url + IPN_PATH
            config.return_url = bot.settings.public_url + RETURN_PATH
            return Shop(bot, sim, clock, http)

        try:
            yield make
        finally:
            for sim in simulators:
                await sim.stop()


@pytest.fixture(name="shop")
async def shop_fixture(shop_factory: ShopFactory) -> Shop:
    return await shop_factory()
