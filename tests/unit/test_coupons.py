"""Coupon codes (issue 14, item 4): the catalog's ``coupon_code`` (validated), the rule that
finds a typed code (``domain.pricing.find_coupon``: case-insensitive, then the same checks as a
listed promotion), the promotion steps of the registration flow (a code is typed, accepted or
refused with its reason, and chosen like a listed promotion) and the quota taken at placement."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from typing import Any

import pytest

from conversations.registration import Step
from conversations.screens import ButtonStyle, Msg
from domain.catalog import Catalog, Promotion, PromotionScope
from domain.catalog_parse import parse_catalog
from domain.errors import CatalogInvalid, PromotionNotApplicable
from domain.pricing import (
    NO_USAGE,
    UNKNOWN_COUPON,
    CheckoutOffer,
    PromotionRefusal,
    PromotionUsage,
    Selection,
    find_coupon,
    quote,
)
from domain.registration import (
    ContactInfo,
    CustomerInfo,
    InvoiceInfo,
    OrderOutcomeKind,
    OrderRequest,
)
from domain.usecases.registration import OrderSettings, PlaceOrder
from tests.fakes.uow import FakeDatabase
from tests.integration.test_payment_usecases import (
    CATALOG,
    OWNER,
    TAX_CODE,
    TTL,
    VN,
    Clock,
    ScriptedGateway,
    World,
    vn,
)
from tests.unit.test_catalog_parse import contract_sample
from tests.unit.test_registration_flow import Chat, FakeBackend, catalog, label_of

# --- the catalog format ------------------------------------------------------------------------


def with_coupons(*codes: object) -> dict[str, Any]:
    """The contract's sample with one more promotion per code (``KM-C<i>``)."""
    data = contract_sample()
    for i, code in enumerate(codes):
        extra = copy.deepcopy(data["promotions"][0])
        extra["code"] = f"KM-C{i}"
        extra["coupon_code"] = code
        data["promotions"].append(extra)
    return data


def problems(data: object) -> list[tuple[str, str]]:
    with pytest.raises(CatalogInvalid) as refused:
        parse_catalog(data)
    return refused.value.problems


def test_a_coupon_code_is_read_and_other_promotions_have_none() -> None:
    catalog_ = parse_catalog(with_coupons("TET2027"))
    listed, typed = catalog_.promotions
    assert listed.coupon_code is None
    assert typed.coupon_code == "TET2027"
    assert catalog_.coupon("tet2027") is typed
    assert catalog_.coupon("  Tet2027 ") is typed
    assert catalog_.coupon("TET2028") is None and catalog_.coupon("") is None


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("TET 2027", "'TET 2027' must not contain spaces"),
        ("TET\t2027", "'TET\\t2027' must not contain spaces"),
        (2027, "must be text, not the number 2027"),
        ("X" * 33, "must be at most 32 characters"),
    ],
)
def test_a_bad_coupon_code_is_reported_with_its_path(code: object, message: str) -> None:
    assert problems(with_coupons(code)) == [("promotions[1].coupon_code", message)]


def test_coupon_codes_are_unique_case_insensitively() -> None:
    assert problems(with_coupons("TET2027", "tet2027")) == [
        (
            "promotions[2].coupon_code",
            "duplicate coupon code 'tet2027' (first at promotions[1].coupon_code)",
        )
    ]
    assert len(parse_catalog(with_coupons("TET2027", "TET2028")).promotions) == 3


def test_the_sample_catalog_has_one_coupon() -> None:
    from bot.catalog_file import load_catalog_file
    from tests.e2e.harness import SAMPLE_CATALOG

    sample = load_catalog_file(SAMPLE_CATALOG)
    coupons = [p for p in sample.promotions if p.coupon_code]
    assert [(p.code, p.coupon_code) for p in coupons] == [("KM-TET2027", "TET2027")]


# --- the rule ------------------------------------------------------------------------------------

TODAY = dt.date(2026, 11, 26)


def coupon(
    code: str, coupon_code: str, scope: PromotionScope = PromotionScope.PLAN, **kw: Any
) -> Promotion:
    values: dict[str, Any] = {"percent": Decimal(20)} | kw
    return Promotion(code, f"Mã {coupon_code}", scope, coupon_code=coupon_code, **values)


COUPONS = (
    coupon("KM-TET", "TET2027", applies_to=("CA-BIZ",), max_discount=300_000),
    coupon("KM-SOON", "SOON", starts=dt.date(2027, 1, 1)),
    coupon("KM-GONE", "GONE", ends=dt.date(2026, 1, 31)),
    coupon("KM-FULL", "FULL", quota=2),
    coupon("KM-ONCE", "ONCE", per_customer=1),
    coupon("KM-USER", "USERONLY", applies_to=("CA-USER",)),
    coupon("KM-BIG", "BIG", min_amount=10_000_000),
    coupon("KM-HD50K", "HD50K", PromotionScope.INVOICE, percent=None, amount=50_000),
    coupon(
        "KM-SETUP", "SETUP100", PromotionScope.ADDON, percent=Decimal(100), applies_to=("SETUP",)
    ),
    coupon("KM-OLDCODE", "OLDCODE", active=False),
)
USAGE = PromotionUsage(total={"KM-FULL": 2, "KM-ONCE": 1}, by_customer={"KM-ONCE": 1})


def coupon_catalog() -> Catalog:
    base = catalog()
    return Catalog(services=base.services, promotions=(*base.promotions, *COUPONS))


def find(typed: str, scope: PromotionScope = PromotionScope.PLAN, target: str = "CA-BIZ") -> str:
    promo = find_coupon(
        coupon_catalog(),
        typed,
        scope=scope,
        target_code=target,
        amount=1_800_000,
        today=TODAY,
        usage=USAGE,
    )
    return promo.code


def test_a_typed_code_is_found_whatever_its_case() -> None:
    assert find("TET2027") == find("tet2027") == find(" Tet2027\n") == "KM-TET"
    assert find("hd50k", PromotionScope.INVOICE) == "KM-HD50K"


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("NOPE", UNKNOWN_COUPON),
        ("oldcode", UNKNOWN_COUPON),  # a removed promotion reads as an unknown code
        ("soon", PromotionRefusal.NOT_STARTED),
        ("gone", PromotionRefusal.EXPIRED),
        ("full", PromotionRefusal.QUOTA_EXHAUSTED),
        ("once", PromotionRefusal.CUSTOMER_LIMIT_REACHED),
        ("useronly", PromotionRefusal.NOT_FOR_TARGET),
        ("big", PromotionRefusal.BELOW_MINIMUM),
        ("hd50k", PromotionRefusal.WRONG_SCOPE),
    ],
)
def test_a_typed_code_is_refused_with_its_reason(typed: str, reason: str) -> None:
    with pytest.raises(PromotionNotApplicable) as refused:
        find(typed)
    assert refused.value.reason == reason


def test_promotions_with_a_code_are_never_listed_but_count_their_uses() -> None:
    offer = CheckoutOffer(coupon_catalog(), TODAY)
    listed = offer.promotions(PromotionScope.PLAN, "CA-BIZ", 1_800_000)
    assert [p.code for p in listed] == ["KM-CA10"]
    assert offer.coupon("TET2027", PromotionScope.PLAN, "CA-BIZ", 1_800_000).code == "KM-TET"
    assert coupon_catalog().has_coupons() and not catalog().has_coupons()


# --- the promotion steps -----------------------------------------------------------------------


@dataclass
class UsedBackend(FakeBackend):
    async def usage(self, enterprise_id: int) -> PromotionUsage:
        self.usage_calls += 1
        return USAGE


def coupon_chat() -> Chat:
    return Chat(UsedBackend(), coupon_catalog())


async def to_plan_promo(chat: Chat, plan: str = "Gói Doanh nghiệp") -> None:
    await chat.command("services")
    await chat.press("VNPT SmartCA")
    await chat.press("btn.pricing")
    await chat.press(plan)
    await chat.press("reg.cycle_button")
    await chat.press("btn.register")
    assert chat.step == Step.PLAN_PROMO


def notice(chat: Chat) -> Msg:
    assert chat.last is not None
    found = [s.notice for s in chat.last.screens if isinstance(s.notice, Msg)]
    assert found, chat.last
    return found[0]


async def test_a_code_typed_in_any_case_is_chosen_like_a_listed_promotion() -> None:
    chat = coupon_chat()
    await to_plan_promo(chat)
    labels = [label_of(b) for b in chat.buttons()]
    assert "Mã TET2027" not in labels  # not listed
    await chat.press("btn.coupon")
    assert chat.step == Step.PLAN_PROMO and "reg.coupon.prompt" in chat.msg_keys()
    assert [label_of(b) for b in chat.buttons()].count("btn.coupon_close") == 1

    await chat.text("  tet2027 ")

    assert notice(chat).key == "reg.coupon.applied"
    assert chat.step == Step.ADDONS and chat.session.draft["pp"] == "KM-TET"
    await chat.press("btn.back")  # the plan's promotion again: the code shows ticked
    assert chat.button("Mã TET2027").style is ButtonStyle.CHECKED
    await chat.press("Mã TET2027")  # pressing it keeps it
    assert chat.step == Step.ADDONS and chat.session.draft["pp"] == "KM-TET"
    await chat.press("btn.done")
    await chat.press("btn.no_promotion")  # invoice
    assert chat.step == Step.STEP1_SUMMARY
    assert "quote.line_discount" in chat.msg_keys()
    await chat.press("btn.next")
    await chat.press("btn.next")
    await chat.press("btn.next")
    await chat.text("Nguyễn Văn An")
    await chat.text("0912 345 678")
    await chat.text("an@anbinh.vn")
    await chat.press("btn.agree_terms")
    await chat.press("btn.pay")
    await chat.press("btn.confirm")
    [order] = chat.backend.orders
    assert order.selection.plan_promotion == "KM-TET"
    # 1.800.000 − 20 % capped at 300.000 = 1.500.000, + 10 % VAT
    assert order.expected_total == 1_650_000


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("NOPE", "reg.coupon.unknown_coupon"),
        ("oldcode", "reg.coupon.unknown_coupon"),
        ("soon", "reg.coupon.not_started"),
        ("GONE", "reg.coupon.expired"),
        ("full", "reg.coupon.quota_exhausted"),
        ("once", "reg.coupon.customer_limit_reached"),
        ("UserOnly", "reg.coupon.not_for_target"),
        ("big", "reg.coupon.below_minimum"),
        ("hd50k", "reg.coupon.wrong_scope"),
    ],
)
async def test_a_refused_code_says_why_and_leaves_the_step_open(typed: str, why: str) -> None:
    chat = coupon_chat()
    await to_plan_promo(chat)
    await chat.press("btn.coupon")

    await chat.text(typed)

    refused = notice(chat)
    assert refused.key == "reg.coupon.refused"
    reason = refused.params["why"]
    assert isinstance(reason, Msg) and reason.key == why
    assert chat.step == Step.PLAN_PROMO and "pp" not in chat.session.draft
    labels = [label_of(b) for b in chat.buttons()]
    assert "btn.no_promotion" in labels and "btn.coupon_close" in labels  # the ways forward
    await chat.text("TET2027")  # another try
    assert chat.step == Step.ADDONS and chat.session.draft["pp"] == "KM-TET"


async def test_a_forged_button_for_a_code_not_typed_is_refused() -> None:
    chat = coupon_chat()
    await to_plan_promo(chat)
    from conversations.session import Event, EventKind

    await chat.send(Event(EventKind.BUTTON, name="pp", arg="KM-TET", rev=chat.session.rev))

    assert chat.last is not None and chat.last.answer == Msg("reg.promo_unavailable")
    assert chat.step == Step.PLAN_PROMO and "pp" not in chat.session.draft


async def test_an_add_on_with_only_a_code_is_asked_and_takes_it() -> None:
    chat = coupon_chat()
    await to_plan_promo(chat)
    await chat.press("btn.no_promotion")
    await chat.press("Cài đặt")  # SETUP: no listed promotion, but a code applies to it
    await chat.press("btn.done")
    assert chat.step == Step.ADDON_PROMO
    await chat.text("setup100")  # typed without pressing the button first: taken too
    assert notice(chat).key == "reg.coupon.applied"
    assert chat.step == Step.INVOICE_PROMO
    assert chat.session.draft["ap"] == {"SETUP": "KM-SETUP"}


async def test_without_codes_in_the_catalog_no_button_and_text_is_refused() -> None:
    chat = Chat()
    await to_plan_promo(chat)
    assert "btn.coupon" not in [label_of(b) for b in chat.buttons()]
    await chat.text("TET2027")
    assert notice(chat).key == "reg.use_buttons"
    assert chat.step == Step.PLAN_PROMO


# --- the quota at placement --------------------------------------------------------------------


async def test_the_quota_of_a_code_is_taken_when_the_order_is_placed() -> None:
    """Two businesses' orders with a code whose quota is 1: the second is refused at Xác nhận
    (the check runs under the lock PlaceOrder takes for every limited promotion)."""
    limited = coupon("KM-TET1", "TET1", quota=1)
    codes = Catalog(services=CATALOG.services, promotions=(*CATALOG.promotions, limited))
    db = FakeDatabase()
    clock = Clock(vn(2026, 3, 10, 9, 0).astimezone(UTC))
    world = await World(db, clock, ScriptedGateway()).seed()  # type: ignore[arg-type]
    async with db.uow as uow:
        await uow.catalog.replace(codes)
        await uow.commit()
    place = PlaceOrder(world.uow, lambda: codes, clock, OrderSettings(unpaid_order_ttl=TTL))
    selection = Selection("CLOUD", "CLOUD-STD", "M12", plan_promotion="KM-TET1")
    today = clock.now().astimezone(VN).date()
    total = quote(codes, selection, today=today, usage=NO_USAGE).total
    assert total == 1_056_000  # 1.200.000 − 20 % = 960.000, + 10 % VAT

    def request(key: str) -> OrderRequest:
        return OrderRequest(
            actor_id=OWNER,
            enterprise_id=world.enterprise_id,
            selection=selection,
            invoice=InvoiceInfo("Công ty An Phát", TAX_CODE, "1 Lê Lợi, Hà Nội", "kt@anphat.vn"),
            customer=CustomerInfo(
                "Công ty An Phát", TAX_CODE, "1 Lê Lợi", "0912345678", "kt@anphat.vn"
            ),
            contact=ContactInfo("Nguyễn Văn An", "0912345678", "an@anphat.vn"),
            expected_total=total,
            idempotency_key=key,
            locale="vi",
            chat_id=OWNER,
        )

    first = await place(request("a"))
    before = db.snapshot()
    second = await place(request("b"))

    assert first.kind is OrderOutcomeKind.CREATED
    assert first.total == total
    assert second.kind is OrderOutcomeKind.PRICE_CHANGED
    assert second.reason_params is not None
    assert (second.reason_params["code"], second.reason_params["reason"]) == (
        "KM-TET1",
        PromotionRefusal.QUOTA_EXHAUSTED,
    )
    assert db.snapshot() == before  # nothing stored for the refused order
