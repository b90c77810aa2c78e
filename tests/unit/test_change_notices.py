"""The notices of a paid CHANGE order, an expired one and a trial started by staff: built by
``domain.usecases.notices`` from the use case's result, rendered by ``conversations.notices`` in
both languages (what changed, from when, the amount; never "Đăng ký thành công")."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.render import html_to_plain
from conversations.notices import notice_screen
from domain.model import PaymentMethod
from domain.outbox import Notice, NoticeKind
from domain.usecases import notices
from domain.usecases.payments import ConfirmStatus, OrderExpired, PaymentConfirmed
from tests.unit.test_manage_flow import CATALOG, RENDER

PAID_AT = datetime(2027, 3, 6, 2, 30, tzinfo=UTC)  # 09:30 in Vietnam


def confirmed(*, trial: bool) -> PaymentConfirmed:
    return PaymentConfirmed(
        ConfirmStatus.APPLIED,
        "DH-2027-000002-1",
        order_code="DH-2027-000002",
        method=PaymentMethod.VNPTPAY,
        total=1_237_876,
        subscription_code="TB-2026-000001",
        invoice_number="HD-2027-000003",
        period_start=PAID_AT,
        period_end=datetime(2028, 3, 6, 2, 30, tzinfo=UTC),
        chat_id=10,
        owner_chat_ids=(20,),
        change={
            "service": "EOFFICE",
            "trial": trial,
            "from_plan": "EOFFICE-USER",
            "from_cycle": "M1",
            "from_quantity": 3,
            "to_plan": "EOFFICE-USER",
            "to_cycle": "M12",
            "to_quantity": 5,
            "effective_at": PAID_AT.isoformat(),
        },
    )


def read(notice: Notice, lang: str) -> str:
    screen = notice_screen(notice, CATALOG)
    return html_to_plain(RENDER.text(lang, screen.text))


@pytest.mark.parametrize(
    ("lang", "heading", "lines"),
    [
        ("vi", "Đổi gói thành công", ("Chu kỳ: 1 tháng → 12 tháng", "Số lượng: 3 → 5")),
        ("en", "Plan changed", ("Cycle: 1 month → 12 months", "Quantity: 3 → 5")),
    ],
)
def test_a_paid_change_tells_what_changed(lang: str, heading: str, lines: tuple[str, ...]) -> None:
    told = notices.payment_succeeded(confirmed(trial=False))

    assert [(n.kind, n.chat_id) for n in told] == [
        (NoticeKind.CHANGE_PAID, 10),
        (NoticeKind.CHANGE_PAID, 20),
    ]
    text = read(told[0], lang)
    assert heading in text and "Đăng ký thành công" not in text
    for line in lines:
        assert line in text
    assert "TB-2026-000001" in text and "DH-2027-000002" in text and "HD-2027-000003" in text
    assert "1.237.876" in text and "06/03/2027 09:30" in text
    [[button]] = notice_screen(told[0], CATALOG).buttons
    assert (button.action, button.arg) == ("subs", "TB-2026-000001")


@pytest.mark.parametrize(
    ("lang", "heading"),
    [("vi", "Đã chuyển từ dùng thử sang chính thức"), ("en", "Trial converted")],
)
def test_a_paid_trial_tells_the_conversion(lang: str, heading: str) -> None:
    [first, _] = notices.payment_succeeded(confirmed(trial=True))

    text = read(first, lang)

    assert heading in text and "TB-2026-000001" in text and "1.237.876" in text


def test_a_registration_is_still_told_as_one() -> None:
    from dataclasses import replace

    [first, _] = notices.payment_succeeded(replace(confirmed(trial=False), change=None))

    assert first.kind is NoticeKind.PAYMENT_SUCCEEDED
    assert "Đăng ký thành công" in read(first, "vi")


@pytest.mark.parametrize(
    ("code", "said", "label"),
    [
        ("TB-2026-000001", "giữ nguyên gói hiện tại", "Quản lý thuê bao"),
        ("", "Bạn có thể đăng ký lại", "Dịch vụ"),
    ],
    ids=["change order", "registration"],
)
def test_an_expired_order_says_what_it_means(code: str, said: str, label: str) -> None:
    result = OrderExpired(5, "DH-2027-000002", 1_237_876, 10, "vi", 0, 0, code)

    [notice] = notices.order_expired(result)

    assert said in read(notice, "vi")
    [[button]] = notice_screen(notice, CATALOG).buttons
    assert RENDER.label("vi", button) == label


def test_a_trial_started_by_staff_names_who_and_what() -> None:
    params = {
        "agent": "Hỗ trợ",
        "business": "Công ty An Phát",
        "tax_code": "0100233488",
        "subscription": "TB-2026-000009",
        "service": "EOFFICE",
        "plan": "EOFFICE-USER",
        "ends_at": PAID_AT.isoformat(),
    }
    notice = Notice(NoticeKind.TRIAL_STARTED, 20, "en", params)

    text = read(notice, "en")

    assert "Hỗ trợ" in text and "Công ty An Phát" in text and "TB-2026-000009" in text
    assert "06/03/2027 09:30" in text
