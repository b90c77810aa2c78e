"""**Đổi gói** in the management conversation (issue 14, item 2), on the fake backend of
``test_manage_flow`` with fake change use cases: the editor starts from the subscription, the
preview shows what the use case priced (by the real rule, ``domain.proration``), Xác nhận sends
what the user saw and shows each outcome, and refusals read as reasons.

The subscription is ``EOFFICE-USER`` (per user, 12 months, 3 users) of the sample catalog.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from conversations.engine import ConversationEngine, EngineSettings
from conversations.manage import ManageFlow
from conversations.manage.change import ChangeBackend
from conversations.payment import REPAY_ACTION
from conversations.turn import RegistrationServices
from domain.errors import InvalidInput, PermissionDenied
from domain.model import Role, SubscriptionStatus, UserId
from domain.proration import ChangeQuote, Settlement, prorate_change
from domain.usecases.changes.change import (
    ChangeOutcome,
    ChangeOutcomeKind,
    ChangePreview,
    ChangeRefused,
    ChangeRequest,
    ConfirmChangeRequest,
)
from domain.usecases.changes.common import configuration_of
from domain.usecases.changes.trials import PayTrialRequest
from domain.usecases.manage import Rights
from tests.unit.test_manage_flow import (
    CATALOG,
    NOW,
    RENDER,
    USER,
    Chat,
    FakeBackend,
    NoRegistration,
    use_cases,
)

CHANGE = "🔄 Đổi gói / số lượng / dịch vụ bổ sung"
PREVIEW = "🧮 Xem chi phí"
CONFIRM = "✅ Xác nhận đổi gói"
CODE = "TB-2026-000001"
#: the change is priced 100 days into the subscription's period
AT = NOW + timedelta(days=100)


@dataclass
class FakeChanges:
    """The change use cases over the fake backend's subscriptions: the preview priced by the
    real rule; Xác nhận answers ``outcome`` (PAY: a link, or none when ``link`` is empty), or
    PRICE_CHANGED when the amount sent is not the current one."""

    backend: FakeBackend
    link: str = "https://pay.example/change"
    refuse: Exception | None = None
    #: added to the price at Xác nhận (a day passed, the catalog was reloaded)
    drift: int = 0
    previews: list[ChangeRequest] = field(default_factory=list)
    confirms: list[ConfirmChangeRequest] = field(default_factory=list)

    def _price(self, req: ChangeRequest) -> tuple[ChangeQuote, Rights]:
        sub = self.backend._sub(req.subscription_id)
        if self.refuse is not None:
            raise self.refuse
        if sub.current_period_start is None or sub.current_period_end is None:
            raise ChangeRefused(reason="status")
        q = prorate_change(
            CATALOG,
            sub.service_code,
            configuration_of(sub),
            req.target.configuration,
            period_start=sub.current_period_start,
            period_end=sub.current_period_end,
            at=AT,
        )
        return q, self.backend.rights

    async def preview(self, req: ChangeRequest) -> ChangePreview:
        self.previews.append(req)
        q, rights = self._price(req)
        return ChangePreview(self.backend._sub(req.subscription_id), rights, q)

    async def confirm(self, req: ConfirmChangeRequest) -> ChangeOutcome:
        self.confirms.append(req)
        q, _ = self._price(ChangeRequest(req.actor_id, req.subscription_id, req.target))
        amount = q.amount + self.drift
        if (amount, q.settlement) != (req.expected_amount, req.expected_settlement):
            self.drift = 0  # priced again, the next preview shows the new amount
            return ChangeOutcome(ChangeOutcomeKind.PRICE_CHANGED, amount=amount)
        if q.settlement is Settlement.PAY:
            return ChangeOutcome(
                ChangeOutcomeKind.AWAITS_PAYMENT,
                amount=amount,
                order_id=77,
                order_code="DH-2026-000077",
                payment_url=self.link,
            )
        kind = {
            Settlement.CREDIT: ChangeOutcomeKind.CREDITED,
            Settlement.NONE: ChangeOutcomeKind.APPLIED,
            Settlement.AT_PERIOD_END: ChangeOutcomeKind.SCHEDULED,
        }[q.settlement]
        return ChangeOutcome(kind, amount=amount)

    async def pay_trial(self, req: PayTrialRequest) -> ChangeOutcome:
        raise AssertionError("not used")

    def expected(self, quantity: int) -> ChangeQuote:
        """The rule's figures for the subscription with ``quantity`` users instead."""
        sub = self.backend.subs[0]
        target = replace(configuration_of(sub), quantity=quantity)
        assert sub.current_period_start is not None and sub.current_period_end is not None
        return prorate_change(
            CATALOG,
            sub.service_code,
            configuration_of(sub),
            target,
            period_start=sub.current_period_start,
            period_end=sub.current_period_end,
            at=AT,
        )


def chat_with(fake: FakeBackend, changes: FakeChanges) -> Chat:
    chat = Chat(fake)
    backend = replace(
        use_cases(fake),
        changes=ChangeBackend(changes.preview, changes.confirm, changes.pay_trial),
    )
    chat.engine = ConversationEngine(
        catalog=lambda: CATALOG,
        registration=RegistrationServices.of(NoRegistration()),
        settings=EngineSettings(),
        flows={"manage": ManageFlow(backend)},
        commands={"subscriptions": "manage"},
    )
    return chat


def money(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + "\u00a0₫"


async def editor(changes: FakeChanges | None = None) -> tuple[Chat, FakeChanges]:
    fake = FakeBackend()
    changes = changes or FakeChanges(fake)
    changes.backend = fake
    chat = chat_with(fake, changes)
    await chat.command("subscriptions", CODE)
    await chat.press(CHANGE)
    return chat, changes


async def test_the_editor_starts_from_the_subscription_and_previews_the_rule() -> None:
    chat, changes = await editor()
    service = CATALOG.service("EOFFICE")
    plan = service.plan("EOFFICE-USER") if service is not None else None
    assert plan is not None
    assert f"Đang chọn: {plan.name}, 12 tháng, số lượng 3" in chat.shown()
    assert "Số lượng: 3" in chat.labels()

    await chat.press("➕")
    assert "Số lượng: 4" in chat.labels()
    await chat.press(PREVIEW)

    [req] = changes.previews[-1:]
    assert (req.actor_id, req.subscription_id, req.target.quantity) == (USER, 1, 4)
    expected = changes.expected(4)
    assert expected.settlement is Settlement.PAY and expected.amount > 0
    shown = chat.shown()
    assert f"còn {expected.days_remaining}/{expected.days_total} ngày" in shown
    assert f"Cần thanh toán thêm: {money(expected.amount)}" in shown
    assert chat.labels() == [CONFIRM, "✏️ Sửa lựa chọn", "« Về thuê bao"]
    # Sửa lựa chọn goes back to the editor with the choice kept
    await chat.press("✏️ Sửa lựa chọn")
    assert "Số lượng: 4" in chat.labels()


async def test_confirm_sends_what_was_seen_and_shows_the_link() -> None:
    chat, changes = await editor()
    await chat.press("➕")
    await chat.press(PREVIEW)

    reply = await chat.press(CONFIRM)

    [req] = changes.confirms
    expected = changes.expected(4)
    assert (req.expected_amount, req.expected_settlement) == (expected.amount, Settlement.PAY)
    assert req.target.quantity == 4 and req.idempotency_key and req.chat_id == USER
    assert "Đơn đổi gói DH-2026-000077" in chat.shown() and money(expected.amount) in chat.shown()
    screen = reply.screens[0]
    assert screen.qr == "https://pay.example/change"
    assert next(b.url for row in screen.buttons for b in row) == "https://pay.example/change"


async def test_a_price_change_at_confirm_shows_the_new_preview() -> None:
    chat, changes = await editor()
    await chat.press("➕")
    await chat.press(PREVIEW)
    changes.drift = 1_000

    await chat.press(CONFIRM)

    assert "Chi phí đã thay đổi" in chat.shown()
    assert CONFIRM in chat.labels()  # still the preview: confirm again, at the new price
    await chat.press(CONFIRM)
    assert len(changes.confirms) == 2 and "Đơn đổi gói" in chat.shown()


async def test_a_link_not_obtained_offers_pay_again_for_the_order() -> None:
    chat, _ = await editor(FakeChanges(FakeBackend(), link=""))
    await chat.press("➕")
    await chat.press(PREVIEW)

    reply = await chat.press(CONFIRM)

    assert "Chưa lấy được liên kết thanh toán" in chat.shown()
    again = chat.button("Thanh toán lại")
    assert (again.action, again.arg) == (REPAY_ACTION, "DH-2026-000077")
    assert reply.screens[0].qr is None
    assert chat.labels() == ["Thanh toán lại", "« Về thuê bao"]


async def test_a_downgrade_credits_the_difference() -> None:
    chat, changes = await editor()
    await chat.press("➖")
    await chat.press(PREVIEW)
    expected = changes.expected(2)
    assert expected.settlement is Settlement.CREDIT
    assert f"ghi có cho bạn (phiếu ghi có): {money(expected.amount)}" in chat.shown()

    await chat.press(CONFIRM)

    assert "Đã đổi gói" in chat.shown() and money(expected.amount) in chat.shown()
    await chat.press("« Về thuê bao")
    assert CODE in chat.shown() and CHANGE in chat.labels()


async def test_nothing_changed_is_refused_with_its_reason() -> None:
    chat, changes = await editor()

    await chat.press(PREVIEW)

    assert chat.answer() == "Bạn chưa thay đổi gì so với gói hiện tại."
    assert chat.last is not None and chat.last.alert
    assert "Số lượng: 3" in chat.labels()  # still the editor
    assert changes.confirms == []


@pytest.mark.parametrize(
    ("refusal", "said"),
    [
        (ChangeRefused(reason="status"), "Chỉ đổi được thuê bao đang hoạt động."),
        (
            ChangeRefused(reason="renewed_ahead", start=datetime(2027, 3, 1, tzinfo=UTC)),
            "kỳ gia hạn bắt đầu từ 01/03/2027",
        ),
        (InvalidInput(field="quantity", reason="above_maximum"), "vượt quá mức tối đa"),
        (InvalidInput(field="x", reason="who-knows"), "Không thể đổi gói lúc này."),
    ],
    ids=["status", "renewed_ahead", "above_maximum", "unknown reason"],
)
async def test_a_refused_preview_says_why(refusal: Exception, said: str) -> None:
    chat, changes = await editor()
    await chat.press("➕")
    changes.refuse = refusal

    await chat.press(PREVIEW)

    assert said in chat.answer()
    assert "Số lượng: 4" in chat.labels()  # the editor, the choice kept


async def test_a_refusal_at_confirm_says_why_and_creates_nothing() -> None:
    chat, changes = await editor()
    await chat.press("➕")
    await chat.press(PREVIEW)
    changes.refuse = ChangeRefused(reason="status")

    await chat.press(CONFIRM)

    assert chat.answer() == "Chỉ đổi được thuê bao đang hoạt động."
    assert "Đơn đổi gói" not in chat.shown()
    assert "Chọn một mục bên dưới" in chat.shown() and "Lịch sử" in chat.labels()  # overview


async def test_a_choice_refused_at_confirm_goes_back_to_the_editor() -> None:
    chat, changes = await editor()
    await chat.press("➕")
    await chat.press(PREVIEW)
    changes.refuse = InvalidInput(field="quantity", reason="above_maximum")

    await chat.press(CONFIRM)

    assert "vượt quá mức tối đa" in chat.answer()
    assert "Số lượng: 4" in chat.labels() and PREVIEW in chat.labels()


async def test_members_and_inactive_subscriptions_have_no_change() -> None:
    member = FakeBackend(rights=Rights(UserId(USER), Role.MEMBER))
    chat = chat_with(member, FakeChanges(member))
    await chat.command("subscriptions", CODE)
    assert CHANGE not in chat.labels()
    with pytest.raises(PermissionDenied):
        await chat.action("chg")

    expired = FakeBackend()
    expired.subs[0] = replace(expired.subs[0], status=SubscriptionStatus.EXPIRED)
    chat = chat_with(expired, FakeChanges(expired))
    await chat.command("subscriptions", CODE)
    assert CHANGE not in chat.labels()


async def test_made_up_codes_are_refused_before_any_use_case() -> None:
    chat, changes = await editor()
    for action, arg in (
        ("chg_plan", "NO-SUCH-PLAN"),
        ("chg_cycle", "D3"),
        ("chg_qty", "+5"),
        ("chg_addon", "NOPE"),
        ("chg_ok", ""),  # Xác nhận before any preview
    ):
        with pytest.raises(InvalidInput):
            await chat.action(action, arg)
    assert changes.previews == [] and changes.confirms == []
    assert RENDER.text("vi", chat.screen.text)  # the editor is still drawn
