"""Money taken for a subscription that could not take it (``refund_due``): the notices are built
by ``domain.usecases.notices`` (the owners: a refund is coming; the staff member who cancelled
it: refund the customer; never "paid" or "renewed") and rendered in both languages, and the
reply to ``/cash`` says the same to the agent who took the money."""

from __future__ import annotations

import pytest

from bot.render import html_to_plain
from conversations.notices import notice_screen
from conversations.payment import _cash_screen
from domain.model import PaymentMethod
from domain.outbox import JsonValue, Notice, NoticeKind
from domain.usecases import notices
from domain.usecases.payments import ConfirmStatus, PaymentConfirmed
from tests.unit.test_manage_flow import CATALOG, RENDER


def refunded(method: PaymentMethod, purpose: str = "RENEWAL") -> PaymentConfirmed:
    return PaymentConfirmed(
        ConfirmStatus.APPLIED,
        "DH-2027-000002-1",
        order_code="DH-2027-000002",
        method=method,
        total=1_100_000,
        subscription_code="TB-2026-000001",
        chat_id=10,
        owner_chat_ids=(20,),
        actor_id=30 if method is PaymentMethod.BY_CASH else None,
        purpose=purpose,
        refund_due=True,
        subscription_status="CANCELLED",
        staff_chat_ids=((30, "en"), (40, "vi")),
    )


def test_the_owners_and_the_staff_who_cancelled_are_told_not_the_cash_taker() -> None:
    online = notices.payment_succeeded(refunded(PaymentMethod.VNPTPAY))
    assert {n.kind for n in online} == {NoticeKind.PAYMENT_REFUND_DUE}
    assert [(n.chat_id, n.params["audience"]) for n in online] == [
        (10, "owner"),
        (20, "owner"),
        (30, "staff"),
        (40, "staff"),
    ]
    cash = notices.payment_succeeded(refunded(PaymentMethod.BY_CASH))
    assert [(n.chat_id, n.params["audience"]) for n in cash] == [
        (10, "owner"),
        (20, "owner"),
        (40, "staff"),
    ]


@pytest.mark.parametrize(
    ("lang", "audience", "purpose", "words"),
    [
        ("vi", "owner", "RENEWAL", ("không được gia hạn", "Đã hủy", "hoàn lại", "1.100.000")),
        ("en", "owner", "RENEWAL", ("not renewed", "Cancelled", "refunded", "1.100.000")),
        ("vi", "staff", "CHANGE", ("Cần hoàn tiền", "không được đổi gói", "DH-2027-000002")),
        ("en", "staff", "CHANGE", ("Refund due", "Nothing was changed", "TB-2026-000001")),
    ],
)
def test_the_refund_notice_in_both_languages(
    lang: str, audience: str, purpose: str, words: tuple[str, ...]
) -> None:
    [notice] = [
        n
        for n in notices.payment_succeeded(refunded(PaymentMethod.VNPTPAY, purpose))
        if n.params["audience"] == audience
    ][:1]
    screen = notice_screen(notice, CATALOG)
    text = html_to_plain(RENDER.text(lang, screen.text))
    for word in words:
        assert word in text, text
    assert "thành công" not in text.lower() and "successful" not in text.lower()


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("vi", ("Đã ghi nhận tiền mặt", "không</b> được gia hạn", "cần hoàn lại")),
        ("en", ("Cash of", "not</b> renewed", "due for a refund")),
    ],
)
def test_the_agent_who_took_the_cash_is_told_it_is_due_for_refund(
    lang: str, words: tuple[str, ...]
) -> None:
    screen = _cash_screen(refunded(PaymentMethod.BY_CASH), "TB-2026-000001")
    text = RENDER.text(lang, screen.text)
    for word in words:
        assert word in text, text


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_money_reported_in_another_amount_reads_differently_to_owners_and_staff(lang: str) -> None:
    params: dict[str, JsonValue] = {
        "order": "DH-2027-000002",
        "total": 1_100_000,
        "reported": 1_000_000,
        "currency": "VND",
        "reference": "DH-2027-000002-1",
        "transaction": "TX-7",
    }

    def shown(audience: str, **changed: JsonValue) -> str:
        notice = Notice(
            NoticeKind.PAYMENT_AMOUNT_MISMATCH, 1, lang, {**params, **changed, "audience": audience}
        )
        screen = notice_screen(notice, CATALOG)
        assert not screen.buttons
        return html_to_plain(RENDER.text(lang, screen.text))

    owner, staff = shown("owner"), shown("staff")
    for text in (owner, staff):
        assert "DH-2027-000002" in text and "1.000.000" in text and "1.100.000" in text
    assert "TX-7" in staff and "DH-2027-000002-1" in staff and "TX-7" not in owner
    assert owner != staff
    assert "1000000 USD" in shown("staff", currency="USD", reported=1_000_000)
