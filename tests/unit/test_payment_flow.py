"""The payment flows (**Thanh toán lại**, ``/cash``) and the payment notices, without Telegram
or a database: a fake backend, the real engine, and assertions on the screens (message keys,
buttons), their texts in both languages, who is told, and the outbox notices' screens."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.i18n import I18n
from bot.render import Renderer
from conversations.engine import ConversationEngine
from conversations.notices import notice_screen
from conversations.payment import (
    CASH_FLOW,
    PAY_FLOW,
    REPAY_ACTION,
    CashFlow,
    PayFlow,
    expired_screen,
    failure_screen,
    success_screen,
)
from conversations.reply import Reply
from conversations.screens import Join, Msg, Param, Screen
from conversations.session import Actor, ChatSession, Event, EventKind
from conversations.turn import RegistrationServices
from domain.catalog import Catalog, ServiceKind
from domain.errors import DomainError, NotFound, PermissionDenied
from domain.model import PaymentMethod
from domain.outbox import Notice, NoticeKind
from domain.pricing import PromotionUsage
from domain.registration import Access, ConfirmRequest, CustomerInfo, OrderOutcome
from domain.usecases import notices
from domain.usecases.payments import (
    ConfirmCashRequest,
    ConfirmStatus,
    FailureStatus,
    OrderExpired,
    PaymentConfirmed,
    PaymentFailed,
    RetryResult,
    RetryStatus,
)

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
USER = 41
OWNER = 42
I18N = I18n.load()
RENDERER = Renderer(I18N)


class NoRegistration:
    async def access(self, user_id: int) -> Access:
        raise AssertionError("not used")

    async def enterprise(self, enterprise_id: int) -> CustomerInfo:
        raise AssertionError("not used")

    async def usage(self, enterprise_id: int) -> PromotionUsage:
        raise AssertionError("not used")

    async def confirm(self, request: ConfirmRequest) -> OrderOutcome:
        raise AssertionError("not used")


@dataclass
class FakePayments:
    retry: RetryResult | DomainError | None = None
    cash: PaymentConfirmed | DomainError | None = None
    calls: list[tuple[str, int, str]] = field(default_factory=list)

    async def pay_again(self, user_id: int, order_code: str) -> RetryResult:
        self.calls.append(("pay_again", user_id, order_code))
        if isinstance(self.retry, DomainError):
            raise self.retry
        assert self.retry is not None
        return self.retry

    async def confirm_cash(self, req: ConfirmCashRequest) -> PaymentConfirmed:
        self.calls.append(("confirm_cash", req.actor_id, req.subscription_code))
        if isinstance(self.cash, DomainError):
            raise self.cash
        assert self.cash is not None
        return self.cash


def engine(payments: FakePayments) -> ConversationEngine:
    return ConversationEngine(
        catalog=Catalog,
        registration=RegistrationServices.of(NoRegistration()),
        flows={PAY_FLOW: PayFlow(payments), CASH_FLOW: CashFlow(payments.confirm_cash)},
        commands={"cash": CASH_FLOW},
        entries={REPAY_ACTION: PAY_FLOW},
    )


async def run(payments: FakePayments, event: Event, session: ChatSession | None = None) -> Reply:
    session = session or ChatSession(key="b:1", lang="vi", updated_at=NOW)
    actor = Actor(user_id=USER, chat_id=USER)
    return await engine(payments).handle(session, actor, event, NOW)


def repay(code: str = "DH-2026-000001", rev: int | None = None) -> Event:
    return Event(EventKind.BUTTON, name=REPAY_ACTION, arg=code, rev=rev)


def cash(arg: str) -> Event:
    return Event(EventKind.COMMAND, name="cash", arg=arg)


def keys(p: Param, out: list[str] | None = None) -> list[str]:
    out = [] if out is None else out
    if isinstance(p, Msg):
        out.append(p.key)
        for v in p.params.values():
            keys(v, out)
    elif isinstance(p, Join):
        for v in p.parts:
            keys(v, out)
    return out


def buttons(screen: Screen) -> list[tuple[str, str | None, str, str | None]]:
    return [
        (b.label.key if isinstance(b.label, Msg) else b.label.text, b.action, b.arg, b.url)
        for row in screen.buttons
        for b in row
    ]


def texts(screen: Screen) -> dict[str, str]:
    """The screen as the user reads it, in both languages (every key and placeholder must
    exist, or this raises)."""
    return {lang: RENDERER.plain(lang, screen.text) for lang in ("vi", "en")}


def retry_result(status: RetryStatus, url: str = "") -> RetryResult:
    return RetryResult(
        status,
        5,
        "DH-2026-000001",
        merchant_order_id="DH-2026-000001-2",
        amount=275_000,
        redirect_url=url,
    )


def confirmed(**kw: Any) -> PaymentConfirmed:
    values: dict[str, Any] = {
        "status": ConfirmStatus.APPLIED,
        "merchant_order_id": "DH-2026-000003-CASH",
        "order_id": 3,
        "order_code": "DH-2026-000003",
        "kind": ServiceKind.OS,
        "method": PaymentMethod.BY_CASH,
        "total": 1_393_200,
        "subscription_code": "TB-2026-000003",
        "invoice_number": "HD2026-000007",
        "period_start": NOW,
        "period_end": NOW + timedelta(days=365),
        "chat_id": OWNER,
        "owner_chat_ids": (),
        "actor_id": USER,
    }
    values.update(kw)
    return PaymentConfirmed(**values)


# --- Thanh toán lại ----------------------------------------------------------------------------


async def test_pay_again_shows_the_new_link_with_a_qr_code_and_ends() -> None:
    payments = FakePayments(retry=retry_result(RetryStatus.CREATED, "http://sim/pay/tok"))
    session = ChatSession(key="b:1", lang="vi", rev=9, flow="reg", draft={"s": "fin"})

    reply = await run(payments, repay(rev=None), session)  # entry buttons carry no rev

    [screen] = reply.screens
    assert keys(screen.text) == ["pay.link"]
    assert buttons(screen) == [
        ("btn.pay_vnptpay", None, "", "http://sim/pay/tok"),
        ("btn.copy_order", None, "", None),
    ]
    assert [b.copy_text for row in screen.buttons for b in row] == [None, "DH-2026-000001"]
    assert screen.qr == "http://sim/pay/tok"
    assert "275.000" in texts(screen)["vi"] and "DH-2026-000001" in texts(screen)["en"]
    assert payments.calls == [("pay_again", USER, "DH-2026-000001")]
    assert (session.flow, session.draft) == (None, {})  # one turn: nothing left behind


@pytest.mark.parametrize(
    ("result", "key", "expected_buttons"),
    [
        (
            retry_result(RetryStatus.CREATED),
            "pay.link_failed",
            [("btn.pay_again", REPAY_ACTION, "DH-2026-000001", None)],
        ),
        (
            retry_result(RetryStatus.PAID),
            "payment_notice.retry_paid",
            [("btn.manage_subscriptions", "subs", "", None)],
        ),
        (
            retry_result(RetryStatus.EXPIRED),
            "payment_notice.retry_expired",
            [("btn.services", "menu", "services", None)],
        ),
        (retry_result(RetryStatus.NOT_ONLINE), "pay.not_online", []),
        (PermissionDenied("not yours"), "pay.not_yours", []),
        (NotFound("order"), "pay.order_not_found", []),
    ],
    ids=["no-link", "paid", "expired", "cash-order", "not-yours", "unknown"],
)
async def test_pay_again_refusals(
    result: RetryResult | DomainError, key: str, expected_buttons: list[Any]
) -> None:
    reply = await run(FakePayments(retry=result), repay())
    [screen] = reply.screens
    assert keys(screen.text)[0] == key
    assert buttons(screen) == expected_buttons
    assert screen.qr is None
    assert all("DH-2026-000001" in text for text in texts(screen).values())


async def test_pay_again_without_an_order_code_asks_nothing() -> None:
    payments = FakePayments()
    reply = await run(payments, repay(""))
    assert keys(reply.screens[0].text) == ["pay.order_not_found"]
    assert payments.calls == []


# --- /cash -------------------------------------------------------------------------------------


async def test_cash_confirmed_tells_the_agent_and_that_the_owners_were_told() -> None:
    payments = FakePayments(cash=confirmed())
    reply = await run(payments, cash(" tb-2026-000003 "))
    [screen] = reply.screens
    assert keys(screen.text) == ["payment_notice.cash_confirmed", "pay.cash_owners_told"]
    assert payments.calls == [("confirm_cash", USER, "TB-2026-000003")]
    vi = texts(screen)["vi"]
    assert "TB-2026-000003" in vi and "HD2026-000007" in vi and "1.393.200" in vi


async def test_cash_of_five_million_or_more_warns_about_input_vat() -> None:
    own_order = confirmed(total=5_000_000, chat_id=USER)  # the agent placed it: nobody else
    [screen] = (await run(FakePayments(cash=own_order), cash("TB-2026-000003"))).screens
    assert keys(screen.text) == ["payment_notice.cash_confirmed", "reg.cash_vat_warning"]


@pytest.mark.parametrize(
    ("result", "key"),
    [
        (confirmed(status=ConfirmStatus.ALREADY_APPLIED), "payment_notice.cash_already"),
        (confirmed(status=ConfirmStatus.WRONG_METHOD), "pay.cash_wrong_method"),
        (PermissionDenied("staff only"), "pay.cash_staff_only"),
        (NotFound("subscription"), "pay.cash_not_found"),
    ],
    ids=["already", "online-order", "not-staff", "unknown"],
)
async def test_cash_refusals(result: PaymentConfirmed | DomainError, key: str) -> None:
    [screen] = (await run(FakePayments(cash=result), cash("TB-2026-000003"))).screens
    assert keys(screen.text) == [key]
    texts(screen)


async def test_cash_without_a_code_shows_the_usage() -> None:
    payments = FakePayments()
    [screen] = (await run(payments, cash(""))).screens
    assert keys(screen.text) == ["pay.cash_usage"]
    assert payments.calls == []


# --- the notices -------------------------------------------------------------------------------


def test_success_notice_online_and_cash() -> None:
    online = confirmed(method=PaymentMethod.VNPTPAY, kind=ServiceKind.ON, total=275_000)
    screen = success_screen(online)
    assert keys(screen.text) == ["payment_notice.succeeded", "pay.period"]
    assert buttons(screen) == [("btn.manage_subscriptions", "subs", "", None)]
    vi = texts(screen)["vi"]
    assert "Đăng ký thành công" in vi and "TB-2026-000003" in vi and "HD2026-000007" in vi
    assert "26/11/2026 – 26/11/2027" in vi and "275.000" in vi
    assert keys(success_screen(confirmed()).text)[0] == "payment_notice.cash_succeeded"
    assert keys(success_screen(confirmed(period_end=None)).text) == [
        "payment_notice.cash_succeeded"
    ]


def failed(**kw: Any) -> PaymentFailed:
    values: dict[str, Any] = {
        "status": FailureStatus.RECORDED,
        "merchant_order_id": "DH-2026-000001-1",
        "order_id": 1,
        "order_code": "DH-2026-000001",
        "response_code": "01",
        "total": 275_000,
        "chat_id": USER,
        "can_retry": True,
    }
    values.update(kw)
    return PaymentFailed(**values)


def test_failure_notices_offer_pay_again_while_the_order_can_be_paid() -> None:
    declined = failure_screen(failed())
    assert keys(declined.text) == ["payment_notice.failed"]
    assert "(mã 01)" in texts(declined)["vi"]
    assert buttons(declined) == [("btn.pay_again", REPAY_ACTION, "DH-2026-000001", None)]
    cancelled = failure_screen(failed(response_code="70", cancelled=True))
    assert keys(cancelled.text) == ["payment_notice.cancelled"]
    assert "hủy" in texts(cancelled)["vi"]
    assert buttons(failure_screen(failed(can_retry=False))) == []
    assert "—" in texts(failure_screen(failed(response_code=None)))["vi"]


def test_expiry_notice_offers_a_new_registration() -> None:
    screen = expired_screen(OrderExpired(1, "DH-2026-000001", 275_000, USER, "en", 0, 0))
    assert keys(screen.text) == ["payment_notice.expired"]
    assert buttons(screen) == [("btn.services", "menu", "services", None)]
    assert "has expired" in texts(screen)["en"]


# --- who is told, and what the outbox notice renders to ---------------------------------------


def test_an_online_success_goes_to_the_order_chat_and_the_owners() -> None:
    online = confirmed(method=PaymentMethod.VNPTPAY, chat_id=USER, owner_chat_ids=(OWNER, 43))
    told = notices.payment_succeeded(online)
    assert [(n.chat_id, n.locale) for n in told] == [(USER, "vi"), (OWNER, "vi"), (43, "vi")]
    assert {n.kind for n in told} == {NoticeKind.PAYMENT_SUCCEEDED}


def test_cash_success_skips_the_staff_member_who_confirmed_it() -> None:
    told = notices.payment_succeeded(
        confirmed(chat_id=USER, owner_chat_ids=(OWNER,), actor_id=USER, locale="en")
    )
    assert [(n.chat_id, n.locale) for n in told] == [(OWNER, "en")]


def test_only_a_failure_that_can_be_paid_again_is_told() -> None:
    assert notices.payment_failed(failed(chat_id=None)) == []
    assert notices.payment_failed(failed(can_retry=False)) == []
    [told] = notices.payment_failed(failed(locale="en"))
    assert (told.kind, told.chat_id, told.locale) == (NoticeKind.PAYMENT_FAILED, USER, "en")


@pytest.mark.parametrize(
    ("notice", "screen"),
    [
        (
            notices.payment_succeeded(confirmed(method=PaymentMethod.VNPTPAY))[0],
            success_screen(confirmed(method=PaymentMethod.VNPTPAY)),
        ),
        (notices.payment_succeeded(confirmed())[0], success_screen(confirmed())),
        (notices.payment_failed(failed())[0], failure_screen(failed())),
        (
            notices.payment_failed(failed(response_code="70", cancelled=True))[0],
            failure_screen(failed(response_code="70", cancelled=True)),
        ),
        (
            notices.order_expired(OrderExpired(1, "DH-2026-000001", 275_000, USER, "vi", 0, 0))[0],
            expired_screen(OrderExpired(1, "DH-2026-000001", 275_000, USER, "vi", 0, 0)),
        ),
    ],
)
def test_a_stored_notice_renders_as_the_screen_of_its_result(
    notice: Notice, screen: Screen
) -> None:
    """What is written to the outbox (plain JSON) is enough to draw the same screen later."""
    stored = Notice(
        notice.kind, notice.chat_id, notice.locale, json.loads(json.dumps(notice.params))
    )
    rendered = notice_screen(stored, Catalog())
    assert texts(rendered) == texts(screen)
    assert buttons(rendered) == buttons(screen)


def test_an_unreadable_notice_is_refused_not_guessed() -> None:
    broken = Notice(NoticeKind.PAYMENT_SUCCEEDED, USER, "vi", {"method": "by_pigeon"})
    with pytest.raises(ValueError, match="unreadable payment_succeeded notice"):
        notice_screen(broken, Catalog())
