"""**Thanh toán** in the management conversation (issue 14, item 1), on the fake backend of
``test_manage_flow`` with a scripted ``pay_invoice``: the button is offered on waiting
invoices to those who may pay, and each outcome of the use case reads as it should."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta

import pytest

from conversations.engine import ConversationEngine, EngineSettings
from conversations.manage import ManageFlow
from conversations.turn import RegistrationServices
from domain.catalog import ServiceKind
from domain.errors import InvalidInput
from domain.model import InvoiceStatus, Role, UserId
from domain.usecases.manage import Rights
from domain.usecases.manage.paying import InvoicePayment, PayInvoiceRequest, PayInvoiceStatus
from tests.unit.test_manage_flow import (
    CATALOG,
    NOW,
    RENDER,
    USER,
    Chat,
    FakeBackend,
    NoRegistration,
    invoice_of,
    order_of,
    subscription,
    use_cases,
)

PAY = "💳 Thanh toán"


@dataclass
class ScriptedPay:
    """Answers every press with ``status``, for the subscription's waiting invoice."""

    status: PayInvoiceStatus
    reused: bool = False
    calls: list[PayInvoiceRequest] = field(default_factory=list)

    async def __call__(self, req: PayInvoiceRequest) -> InvoicePayment:
        self.calls.append(req)
        sub = subscription(req.subscription_id, kind=ServiceKind.OS)
        order = order_of(sub)
        invoice = replace(invoice_of(sub, order), status=InvoiceStatus.WAITING, number=None)
        link = self.status is PayInvoiceStatus.LINK
        return InvoicePayment(
            self.status,
            sub,
            invoice,
            order.code,
            invoice.total,
            expired_at=NOW - timedelta(minutes=1),
            merchant_order_id=f"{order.code}-2" if link else "",
            redirect_url="https://pay.example/x" if link else "",
            reused=self.reused,
        )


def chat_with(fake: FakeBackend, pay: ScriptedPay) -> Chat:
    chat = Chat(fake)
    chat.engine = ConversationEngine(
        catalog=lambda: CATALOG,
        registration=RegistrationServices.of(NoRegistration()),
        settings=EngineSettings(),
        flows={"manage": ManageFlow(replace(use_cases(fake), pay_invoice=pay))},
        commands={"subscriptions": "manage"},
    )
    return chat


def os_backend(rights: Rights | None = None) -> FakeBackend:
    fake = FakeBackend(subs=[subscription(2, kind=ServiceKind.OS)])
    return replace(fake, rights=rights) if rights is not None else fake


@pytest.mark.parametrize(
    ("rights", "offered"),
    [
        (Rights(UserId(USER), Role.OWNER), True),
        (Rights(UserId(USER), is_agent=True), True),
        (Rights(UserId(USER), Role.MEMBER), False),
    ],
    ids=["owner", "agent", "member"],
)
async def test_the_button_is_offered_on_waiting_invoices_to_payers(
    rights: Rights, offered: bool
) -> None:
    chat = chat_with(os_backend(rights), ScriptedPay(PayInvoiceStatus.CASH))
    await chat.command("subscriptions", "TB-2026-000002")
    await chat.press("Hóa đơn")
    assert (PAY in chat.labels()) is offered
    await chat.press("📄 Hóa đơn 1")
    assert (PAY in chat.labels()) is offered
    assert ("Hóa đơn đang chờ thanh toán" in chat.shown()) is offered
    await chat.press("Phương thức thanh toán")
    assert (PAY in chat.labels()) is offered


async def test_paid_invoices_have_no_button() -> None:
    chat = chat_with(FakeBackend(), ScriptedPay(PayInvoiceStatus.LINK))
    await chat.command("subscriptions", "TB-2026-000001")
    await chat.press("Hóa đơn")
    assert PAY not in chat.labels()


async def test_a_link_comes_as_a_new_message_with_its_qr_code() -> None:
    pay = ScriptedPay(PayInvoiceStatus.LINK)
    chat = chat_with(os_backend(), pay)
    await chat.command("subscriptions", "TB-2026-000002")
    await chat.press("Hóa đơn")

    reply = await chat.press(PAY)

    [req] = pay.calls
    assert (req.actor_id, req.subscription_id, req.invoice_id) == (USER, 2, 52)
    assert chat.answer() == "Đã gửi liên kết thanh toán."
    tab, link = reply.screens
    assert tab.delivery.value == "edit" and link.delivery.value == "new"
    assert link.qr == "https://pay.example/x"
    buttons = [b for row in link.buttons for b in row]
    assert [b.url for b in buttons] == ["https://pay.example/x", None]
    # the payment reference (the merchant order id of the attempt), copied to the clipboard
    assert buttons[1].copy_text is not None and buttons[1].copy_text.endswith("-2")
    pay.reused = True
    await chat.press(PAY)
    assert "vẫn còn hiệu lực" in chat.answer()


@pytest.mark.parametrize(
    ("status", "answer", "message"),
    [
        (PayInvoiceStatus.CASH, "Hóa đơn này thanh toán bằng tiền mặt.", "Thanh toán tiền mặt"),
        (PayInvoiceStatus.PAID, "đã được thanh toán", None),
        (PayInvoiceStatus.NO_LINK, "Chưa lấy được liên kết thanh toán", None),
        (PayInvoiceStatus.EXPIRED, "hết hạn thanh toán", "Không có đơn hàng mới nào được tạo"),
    ],
)
async def test_each_outcome_reads_as_it_should(
    status: PayInvoiceStatus, answer: str, message: str | None
) -> None:
    chat = chat_with(os_backend(), ScriptedPay(status))
    await chat.command("subscriptions", "TB-2026-000002")
    await chat.press("Hóa đơn")

    reply = await chat.press(PAY)

    assert answer in chat.answer()
    extra = reply.screens[1:]
    if message is None:
        assert extra == ()
    else:
        [shown] = extra
        assert message in RENDER.text("vi", shown.text)


async def test_a_made_up_invoice_id_is_refused_before_the_use_case() -> None:
    pay = ScriptedPay(PayInvoiceStatus.LINK)
    chat = chat_with(os_backend(), pay)
    await chat.command("subscriptions", "TB-2026-000002")
    await chat.press("Hóa đơn")
    for arg in ("12x", "", "-1"):
        with pytest.raises(InvalidInput):
            await chat.action("inv_pay", arg)
    assert pay.calls == []
