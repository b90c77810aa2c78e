"""The registration state machine, without Telegram or a database: a fake backend, a small
catalog built in code, and assertions on the screens (message keys, buttons) and the order
request the flow finally places."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from conversations.engine import ConversationEngine, EngineSettings
from conversations.registration import Step
from conversations.reply import Reply
from conversations.screens import Button, ButtonStyle, Join, Msg, Param, Plain, Screen
from conversations.session import Actor, ChatSession, Event, EventKind
from conversations.turn import RegistrationServices
from domain.catalog import (
    Addon,
    AddonType,
    BillingCycle,
    Catalog,
    PeriodUnit,
    Plan,
    PricingStrategy,
    Promotion,
    PromotionScope,
    Service,
    ServiceKind,
    TaxCategory,
)
from domain.pricing import PromotionUsage
from domain.registration import (
    Access,
    ConfirmRequest,
    CustomerInfo,
    EnterpriseRef,
    OrderOutcome,
    OrderOutcomeKind,
    OrderRequest,
)

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def catalog() -> Catalog:
    cert = Service(
        code="CA",
        name="VNPT SmartCA",
        kind=ServiceKind.ON,
        plans=(
            Plan(
                code="CA-BIZ",
                name="Gói Doanh nghiệp",
                tax=TaxCategory.VAT10,
                pricing=PricingStrategy.FLAT,
                cycles=(
                    BillingCycle("M12", 12, PeriodUnit.MONTH, 1_800_000),
                    BillingCycle("M24", 24, PeriodUnit.MONTH, 3_200_000),
                ),
                addons=("TSA", "SETUP"),
            ),
            Plan(
                code="CA-USER",
                name="Gói theo người dùng",
                tax=TaxCategory.KCT,
                pricing=PricingStrategy.UNIT,
                cycles=(BillingCycle("M1", 1, PeriodUnit.MONTH, 50_000),),
            ),
        ),
        addons=(
            Addon(
                "TSA",
                "Dấu thời gian",
                TaxCategory.VAT10,
                AddonType.PERIODIC,
                30_000,
                PeriodUnit.MONTH,
            ),
            Addon("SETUP", "Cài đặt", TaxCategory.VAT8, AddonType.ONCE, 200_000),
        ),
    )
    camera = Service(
        code="CAM",
        name="Lắp camera",
        kind=ServiceKind.OS,
        plans=(
            Plan(
                code="CAM-4",
                name="Gói 4 mắt",
                tax=TaxCategory.VAT8,
                pricing=PricingStrategy.FLAT,
                cycles=(BillingCycle("ONCE", 1, PeriodUnit.YEAR, 6_000_000),),
            ),
        ),
    )
    promos = (
        Promotion(
            "KM-CA10",
            "Giảm 10% SmartCA",
            PromotionScope.PLAN,
            percent=Decimal(10),
            max_discount=200_000,
            applies_to=("CA-BIZ",),
        ),
        Promotion(
            "KM-TSA",
            "Giảm 50.000 dấu thời gian",
            PromotionScope.ADDON,
            amount=50_000,
            applies_to=("TSA",),
        ),
        Promotion("KM-HD5", "Giảm 5% hóa đơn", PromotionScope.INVOICE, percent=Decimal(5)),
        Promotion(
            "KM-OLD", "Hết hạn", PromotionScope.INVOICE, amount=10_000, ends=date(2025, 12, 31)
        ),
    )
    return Catalog(services=(cert, camera), promotions=promos)


@dataclass
class FakeBackend:
    owned: tuple[EnterpriseRef, ...] = (EnterpriseRef(7, "Công ty An Bình", "0100233488", "owner"),)
    orders: list[OrderRequest] = field(default_factory=list)
    usage_calls: int = 0
    outcome: OrderOutcome | None = None

    async def access(self, user_id: int) -> Access:
        return Access(user_id=user_id, enterprises=self.owned)

    async def enterprise(self, enterprise_id: int) -> CustomerInfo:
        return CustomerInfo(
            name='Công ty <b>An Bình</b> & "Co"',
            tax_code="0100233488",
            address="57 Huỳnh Thúc Kháng, Hà Nội",
            phone="+84912345678",
            email="ketoan@anbinh.vn",
        )

    async def usage(self, enterprise_id: int) -> PromotionUsage:
        self.usage_calls += 1
        return PromotionUsage()

    async def confirm(self, request: ConfirmRequest) -> OrderOutcome:
        self.orders.append(request.order_request(await self.enterprise(request.enterprise_id)))
        if self.outcome is not None:
            return self.outcome
        svc = catalog().service(request.selection.service_code)
        assert svc is not None
        return OrderOutcome(
            OrderOutcomeKind.CREATED,
            order_id=1,
            order_code="DH-1",
            kind_of_service=svc.kind.value,
            total=request.expected_total,
            subscription_code="TB-1" if svc.kind is ServiceKind.OS else "",
            payment_url="http://pay/1" if svc.kind is ServiceKind.ON else "",
        )


class Chat:
    def __init__(self, backend: FakeBackend | None = None, cat: Catalog | None = None) -> None:
        self.backend = backend or FakeBackend()
        self._catalog = cat or catalog()
        self.engine = ConversationEngine(
            catalog=lambda: self._catalog,
            registration=RegistrationServices.of(self.backend),
            settings=EngineSettings(),
        )
        self.session = ChatSession(key="b:1", lang="vi", updated_at=NOW)
        self.actor = Actor(user_id=1, chat_id=1, first_name="An")
        self.now = NOW
        self.last: Reply | None = None

    async def send(self, event: Event) -> Reply:
        reply = await self.engine.handle(self.session, self.actor, event, self.now)
        self.session.updated_at = self.now
        self.last = reply
        # the stored session is JSON: check it round-trips and stays small
        raw = json.dumps(self.session.to_dict(), ensure_ascii=False)
        assert len(raw.encode()) <= 1024, raw
        return reply

    async def command(self, name: str, arg: str = "") -> Reply:
        return await self.send(Event(EventKind.COMMAND, name=name, arg=arg))

    async def text(self, text: str) -> Reply:
        return await self.send(Event(EventKind.TEXT, text=text))

    def buttons(self) -> list[Button]:
        assert self.last is not None and self.last.screens
        return [b for row in self.last.screens[-1].buttons for b in row]

    def button(self, label: str) -> Button:
        found = [b for b in self.buttons() if label_of(b) == label]
        assert found, f"no button {label!r} in {[label_of(b) for b in self.buttons()]}"
        return found[0]

    async def press(self, label: str, *, rev: int | None = None) -> Reply:
        b = self.button(label)
        return await self.send(
            Event(
                EventKind.BUTTON,
                name=b.action or "",
                arg=b.arg,
                rev=self.session.rev if rev is None else rev,
            )
        )

    @property
    def step(self) -> str:
        return str(self.session.draft.get("s"))

    def msg_keys(self) -> set[str]:
        assert self.last is not None
        out: set[str] = set()
        for s in self.last.screens:
            collect(s.text, out)
            if s.notice is not None:
                collect(s.notice, out)
        return out


def label_of(b: Button) -> str:
    return b.label.text if isinstance(b.label, Plain) else b.label.key


def collect(p: Param, out: set[str]) -> None:
    if isinstance(p, Msg):
        out.add(p.key)
        for v in p.params.values():
            collect(v, out)
    elif isinstance(p, Join):
        for v in p.parts:
            collect(v, out)


async def to_final(chat: Chat) -> None:
    await chat.command("services")
    await chat.press("VNPT SmartCA")
    await chat.press("btn.pricing")
    await chat.press("Gói Doanh nghiệp")
    await chat.press("reg.cycle_button")  # first cycle (12 months)
    await chat.press("btn.register")
    assert chat.step == Step.PLAN_PROMO
    await chat.press("Giảm 10% SmartCA")
    assert chat.step == Step.ADDONS
    await chat.press("Dấu thời gian")
    await chat.press("Cài đặt")
    await chat.press("btn.done")
    assert chat.step == Step.ADDON_PROMO  # only TSA has a promotion; SETUP's screen is skipped
    await chat.press("Giảm 50.000 dấu thời gian")
    assert chat.step == Step.INVOICE_PROMO
    labels = [label_of(b) for b in chat.buttons()]
    assert "Hết hạn" not in labels  # an expired promotion is not offered
    await chat.press("Giảm 5% hóa đơn")
    assert chat.step == Step.STEP1_SUMMARY
    await chat.press("btn.next")
    assert chat.step == Step.INVOICE_INFO
    await chat.press("btn.next")
    assert chat.step == Step.CUSTOMER_INFO
    await chat.press("btn.next")
    assert chat.step == Step.CONTACT_NAME
    await chat.text("Nguyễn Văn An")
    await chat.text("0912 345 678")
    await chat.text("an@anbinh.vn")
    assert chat.step == Step.FINAL


async def test_on_flow_places_one_order_with_every_choice() -> None:
    chat = Chat()
    await to_final(chat)
    await chat.press("btn.pay")
    assert chat.last is not None and chat.last.answer == Msg("reg.terms_required")
    assert chat.step == Step.FINAL
    await chat.press("btn.agree_terms")
    assert chat.button("btn.agree_terms").style is ButtonStyle.CHECKED
    await chat.press("btn.pay")
    assert chat.step == Step.CONFIRM
    await chat.press("btn.confirm")
    [req] = chat.backend.orders
    sel = req.selection
    assert (sel.service_code, sel.plan_code, sel.cycle_code) == ("CA", "CA-BIZ", "M12")
    assert sel.addon_codes == ("SETUP", "TSA")
    assert sel.plan_promotion == "KM-CA10"
    assert dict(sel.addon_promotions) == {"TSA": "KM-TSA"}
    assert sel.invoice_promotions == ("KM-HD5",)
    assert req.contact.phone == "+84912345678"
    assert req.invoice.tax_code == "0100233488"
    # plan 1.800.000 −10% (cap 200.000) = 1.620.000; TSA 12×30.000 = 360.000 −50.000 = 310.000;
    # SETUP 200.000. Subtotal 2.130.000; −5% = 2.023.500 (discount 106.500 spread pro rata).
    # plan 1.620.000 × 0.95 = 1.539.000; TSA 310.000 × 0.95 = 294.500;
    # SETUP 200.000 × 0.95 = 190.000. VAT 10% on 1.833.500 = 183.350; 8% on 190.000 = 15.200
    # → total 2.023.500 + 198.550 = 2.222.050.
    assert req.expected_total == 2_222_050
    assert chat.last is not None
    screen = chat.last.screens[0]
    assert screen.qr == "http://pay/1"
    assert any(
        b.url == "http://pay/1" and label_of(b) == "btn.pay_vnptpay"
        for row in screen.buttons
        for b in row
    )
    assert chat.session.flow is None  # the draft is gone once the order exists


async def test_os_flow_success_with_cash_vat_warning() -> None:
    chat = Chat()
    await chat.command("services")
    await chat.press("Lắp camera")
    await chat.press("btn.pricing")
    await chat.press("Gói 4 mắt")
    await chat.press("reg.cycle_button")
    await chat.press("btn.register")
    await chat.press("btn.no_promotion")  # plan promotion screen, nothing applies
    assert chat.step == Step.INVOICE_PROMO  # no add-ons: the add-on screens are skipped
    await chat.press("btn.no_promotion")
    await chat.press("btn.next")
    await chat.press("btn.next")
    await chat.press("btn.next")
    await chat.text("Trần Thị Bình")
    await chat.text("+84 912 345 678")
    await chat.text("binh@anbinh.vn")
    await chat.press("btn.agree_terms")
    await chat.press("btn.pay")
    await chat.press("btn.confirm")
    assert "reg.success_cash" in chat.msg_keys()
    assert "reg.cash_vat_warning" in chat.msg_keys()  # 6.480.000 ₫ ≥ 5.000.000 ₫


async def test_stale_button_changes_nothing() -> None:
    chat = Chat()
    await chat.command("services")
    old_rev = chat.session.rev
    await chat.press("VNPT SmartCA")
    draft_before = json.dumps(chat.session.draft, sort_keys=True)
    reply = await chat.send(Event(EventKind.BUTTON, name="svc", arg="CAM", rev=old_rev))
    assert reply.answer == Msg("bot.stale_menu")
    assert json.dumps(chat.session.draft, sort_keys=True) == draft_before
    assert chat.step == Step.SERVICE


async def test_double_tap_on_confirm_places_one_order() -> None:
    chat = Chat()
    await to_final(chat)
    await chat.press("btn.agree_terms")
    await chat.press("btn.pay")
    rev = chat.session.rev
    b = chat.button("btn.confirm")
    await chat.send(Event(EventKind.BUTTON, name=b.action or "", arg=b.arg, rev=rev))
    second = await chat.send(Event(EventKind.BUTTON, name=b.action or "", arg=b.arg, rev=rev))
    assert len(chat.backend.orders) == 1
    assert second.answer == Msg("bot.stale_menu")


async def test_back_walks_the_steps_in_reverse() -> None:
    chat = Chat()
    await chat.command("services")
    await chat.press("VNPT SmartCA")
    await chat.press("btn.pricing")
    await chat.press("Gói Doanh nghiệp")
    await chat.press("reg.cycle_button")
    await chat.press("btn.register")
    await chat.press("btn.no_promotion")
    await chat.press("Dấu thời gian")
    await chat.press("btn.done")
    assert chat.step == Step.ADDON_PROMO
    seen = []
    for _ in range(7):
        await chat.press("btn.back")
        seen.append(chat.step)
    assert seen == [
        Step.ADDONS,
        Step.PLAN_PROMO,
        Step.REGISTER,
        Step.CYCLES,
        Step.PLANS,
        Step.SERVICE,
        Step.CATALOG,
    ]
    assert chat.session.draft.get("ad") == ["TSA"]  # going back keeps the choices


async def test_cancel_button_and_command() -> None:
    chat = Chat()
    await chat.command("services")
    await chat.press("VNPT SmartCA")
    await chat.press("btn.cancel")
    assert chat.session.flow is None
    assert "flow.cancelled" in chat.msg_keys()
    await chat.command("services")
    await chat.press("VNPT SmartCA")
    await chat.command("cancel")
    assert chat.session.flow is None


@pytest.mark.parametrize(
    ("step_text", "bad", "reason"),
    [
        ("name", "", "invalid.name.required"),
        ("phone", "12345", "invalid.phone.format"),
        ("email", "not-an-email", "invalid.email.format"),
    ],
)
async def test_invalid_contact_input_is_reprompted(step_text: str, bad: str, reason: str) -> None:
    chat = Chat()
    await to_final(chat)
    await chat.press("btn.edit_contact")
    assert chat.step == Step.CONTACT_NAME
    if step_text in ("phone", "email"):
        await chat.text("Nguyễn Văn An")
    if step_text == "email":
        await chat.text("0912345678")
    step = chat.step
    await chat.text(bad)
    assert chat.step == step
    assert reason in chat.msg_keys()
    assert "invalid.retry" in chat.msg_keys()


async def test_invalid_tax_code_reprompted_then_accepted_and_back_to_final() -> None:
    chat = Chat()
    await to_final(chat)
    await chat.press("btn.edit_invoice")
    await chat.press("btn.keep")  # company name
    assert chat.session.draft["fk"] == "inv.tax"
    await chat.text("0100233489")  # wrong check digit
    assert "invalid.tax_code.checksum" in chat.msg_keys()
    for _ in range(2):
        await chat.text("123")
    assert "invalid.too_many" in chat.msg_keys()  # the third failure offers help and a way out
    await chat.text("0103326250")
    await chat.press("btn.keep")  # address
    await chat.press("btn.keep")  # email
    assert chat.step == Step.FINAL
    assert chat.session.draft["inv"] == {"tax": "0103326250"}


async def test_user_without_permission_is_told_politely() -> None:
    chat = Chat(FakeBackend(owned=()))
    await chat.command("services")
    await chat.press("VNPT SmartCA")
    await chat.press("btn.pricing")
    await chat.press("Gói Doanh nghiệp")
    await chat.press("reg.cycle_button")
    reply = await chat.press("btn.register")
    assert reply.answer == Msg("reg.no_permission") and reply.alert
    assert chat.step == Step.REGISTER


async def test_member_cannot_register() -> None:
    chat = Chat(FakeBackend(owned=(EnterpriseRef(7, "X", "0100233488", "member"),)))
    await chat.command("services")
    await chat.press("VNPT SmartCA")
    await chat.press("btn.pricing")
    await chat.press("Gói Doanh nghiệp")
    await chat.press("reg.cycle_button")
    reply = await chat.press("btn.register")
    assert reply.answer == Msg("reg.no_permission")


async def test_unit_pricing_asks_quantity() -> None:
    chat = Chat()
    await chat.command("services")
    await chat.press("VNPT SmartCA")
    await chat.press("btn.pricing")
    await chat.press("Gói theo người dùng")
    await chat.press("reg.cycle_button")
    assert chat.step == Step.QUANTITY
    await chat.text("abc")
    assert "invalid.quantity.range" in chat.msg_keys()
    await chat.text("12")
    assert chat.step == Step.REGISTER
    assert chat.session.draft["q"] == 12


async def test_price_change_at_confirm_shows_new_summary() -> None:
    backend = FakeBackend()
    chat = Chat(backend)
    await to_final(chat)
    await chat.press("btn.agree_terms")
    await chat.press("btn.pay")
    backend.outcome = OrderOutcome(
        OrderOutcomeKind.PRICE_CHANGED,
        reason="error.promotion_not_applicable",
        reason_params={"code": "KM-HD5", "reason": "quota_exhausted"},
    )
    await chat.press("btn.confirm")
    assert chat.step == Step.FINAL
    assert "reg.price_changed" in chat.msg_keys() and "refusal.quota_exhausted" in chat.msg_keys()
    assert chat.session.draft["ip"] == ""  # the exhausted promotion is dropped
    assert not chat.session.draft.get("tm")  # the user agrees and confirms again


async def test_draft_expires_after_idle_time() -> None:
    chat = Chat()
    await chat.command("services")
    await chat.press("VNPT SmartCA")
    chat.now = NOW + timedelta(hours=25)
    reply = await chat.press("btn.pricing")
    assert chat.session.flow is None
    assert "draft.expired" in chat.msg_keys()
    assert reply.screens


async def test_language_switch() -> None:
    chat = Chat()
    await chat.command("language", "en")
    assert chat.session.lang == "en"


async def test_text_outside_a_prompt_gets_guidance() -> None:
    chat = Chat()
    await chat.command("services")
    await chat.text("hello")
    assert "reg.use_buttons" in chat.msg_keys()
    assert chat.step == Step.CATALOG


async def test_edit_section_from_final_returns_to_final() -> None:
    chat = Chat()
    await to_final(chat)
    await chat.press("btn.edit_customer")
    await chat.text("Công ty Mới")
    await chat.press("btn.keep")
    await chat.press("btn.keep")
    await chat.press("btn.keep")
    assert chat.step == Step.FINAL
    assert chat.session.draft["cus"] == {"name": "Công ty Mới"}


def test_screens_are_data() -> None:
    s = Screen(Msg("x", {"a": Plain("<b>")}))
    assert isinstance(s.text, Msg)
