"""Coupon codes at the renewal summary (issue 14 item 4 for **Gia hạn**), on a stub backend:
**Nhập mã khuyến mại** is offered when an active coupon promotion may discount renewals; a
typed code is matched case-insensitively and checked like in registration (``purchases``,
window, quota, uses per business, scope), refused with its reason, or chosen like a listed
promotion (plan or invoice) and shown ticked, so the order is placed with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from bot.render import html_to_plain
from conversations.renewal import RenewalFlow
from conversations.renewal.flow import renewal_coupons
from conversations.screens import Msg
from domain.catalog import Catalog, Promotion, PromotionScope, Purchase
from domain.model import SubscriptionStatus
from domain.pricing import CheckoutOffer, PromotionUsage
from domain.usecases.renewal import RenewalOffer, RenewalOutcome, RenewalOutcomeKind
from tests.unit.test_manage_flow import RENDER
from tests.unit.test_renewal_flow import CYCLE, NOW, PLAN, SERVICE, subscription, turn

TODAY = NOW.date()
RENEWAL = (Purchase.RENEWAL,)


def coupon(code: str, typed: str, **fields: Any) -> Promotion:
    values: dict[str, Any] = {
        "name": f"Khuyến mại {code}",
        "scope": PromotionScope.PLAN,
        "percent": Decimal(10),
        "purchases": RENEWAL,
        "coupon_code": typed,
    }
    values.update(fields)
    return Promotion(code, **values)


PROMOTIONS = (
    coupon("KM-GH10", "GiaHan10"),
    coupon("KM-HD", "HOADON", scope=PromotionScope.INVOICE, percent=None, amount=5_000),
    coupon("KM-MOI", "MOI", purchases=(Purchase.NEW,)),
    coupon("KM-SOM", "SOM", starts=TODAY + timedelta(days=3)),
    coupon("KM-CU", "CU", ends=TODAY - timedelta(days=1)),
    coupon("KM-HET", "HET", quota=5),
    coupon("KM-1LAN", "MOTLAN", per_customer=1),
    coupon("KM-GOI-KHAC", "GOIKHAC", applies_to=("OTHER",)),
    coupon("KM-ADDON", "ADDON", scope=PromotionScope.ADDON),
    coupon("KM-TAT", "TAT", active=False),
)
CATALOG = Catalog(services=(SERVICE,), promotions=PROMOTIONS)
USAGE = PromotionUsage(total={"KM-HET": 5, "KM-1LAN": 1}, by_customer={"KM-1LAN": 1})


@dataclass
class Backend:
    catalog: Catalog = CATALOG
    placed: list[Any] = field(default_factory=list)

    async def offer(self, actor_id: int, code: str) -> RenewalOffer:
        return RenewalOffer(
            subscription(SubscriptionStatus.ACTIVE),
            SERVICE,
            PLAN,
            (CYCLE,),
            CheckoutOffer(self.catalog, TODAY, USAGE, purchase=Purchase.RENEWAL),
        )

    async def renew(self, req: Any) -> RenewalOutcome:
        self.placed.append(req)
        return RenewalOutcome(RenewalOutcomeKind.CREATED, "TB-2026-000001", 9, "DH-1", 1)

    async def set_renewal(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("not expected")

    async def cancel_now(self, req: Any) -> Any:
        raise AssertionError("not expected")


async def at_summary(backend: Backend) -> tuple[RenewalFlow, Any]:
    flow = RenewalFlow(backend)
    t = turn()
    await flow.start(t, "TB-2026-000001")
    await flow.button(t, "cy", "M1")
    assert t.draft["s"] == "rsum"
    return flow, t


def said(t: Any, lang: str = "vi") -> str:
    assert isinstance(t.notice, Msg)
    return html_to_plain(RENDER.text(lang, t.notice))


def buttons(screen: Any) -> list[tuple[str, str]]:
    return [(b.action, b.arg) for row in screen.buttons for b in row]


async def test_the_summary_offers_a_code_only_when_one_may_discount_renewals() -> None:
    flow, t = await at_summary(Backend())
    assert ("cp", "") in buttons(await flow.screen(t))
    new_only = Catalog(
        services=(SERVICE,), promotions=(coupon("KM-MOI", "MOI", purchases=(Purchase.NEW,)),)
    )
    assert not renewal_coupons(new_only, PLAN.code)
    flow, t = await at_summary(Backend(new_only))
    assert ("cp", "") not in buttons(await flow.screen(t))
    # a code for new registrations typed anyway gets its reason, and changes nothing
    await flow.text(t, "moi")
    assert "không dùng cho lần mua này" in said(t) and t.draft.get("pp") is None
    flow, t = await at_summary(Backend(Catalog(services=(SERVICE,))))
    await flow.text(t, "MOI")  # no codes at all: the text is not taken
    assert t.notice == Msg("menu.use_buttons")


async def test_a_plan_code_typed_in_any_case_is_chosen_and_shown_ticked() -> None:
    backend = Backend()
    flow, t = await at_summary(backend)
    await flow.button(t, "cp", "")
    screen = await flow.screen(t)
    assert ("cp", "off") in buttons(screen)
    await flow.text(t, "  giahan10 ")
    assert t.draft["pp"] == "KM-GH10"
    assert "Khuyến mại KM-GH10" in said(t)
    screen = await flow.screen(t)
    assert ("pp", "") in buttons(screen)  # ticked: pressing drops it
    assert t.draft["t"] == 99_000  # 100.000 − 10 %, + 10 % VAT = 99.000
    await flow.button(t, "ok", "")
    [req] = backend.placed
    assert (req.plan_promotion, req.expected_total) == ("KM-GH10", 99_000)


async def test_an_invoice_code_is_added_to_the_invoice_promotions() -> None:
    flow, t = await at_summary(Backend())
    await flow.text(t, "hoadon")
    assert t.draft["ip"] == ["KM-HD"]
    screen = await flow.screen(t)
    assert ("ip", "KM-HD") in buttons(screen)
    assert t.draft["t"] == 104_500  # (100.000 − 5.000) + 10 % VAT


@pytest.mark.parametrize(
    ("typed", "vi", "en"),
    [
        ("KHONGCO", "không tồn tại", "does not exist"),
        ("TAT", "không tồn tại", "does not exist"),
        ("MOI", "không dùng cho lần mua này", "not valid for this purchase"),
        ("SOM", "chưa đến thời gian áp dụng (từ ngày 04/06/2026)", "not valid yet"),
        ("CU", "đã hết hạn", "has expired"),
        ("HET", "hết lượt", "used up"),
        ("MOTLAN", "đã dùng hết số lượt", "already used"),
        ("GOIKHAC", "không áp dụng", "does not apply"),
        ("ADDON", "không dùng ở bước này", "not used at this step"),
    ],
)
async def test_a_refused_code_says_why_and_changes_nothing(typed: str, vi: str, en: str) -> None:
    flow, t = await at_summary(Backend())
    before = dict(t.draft)
    await flow.text(t, typed)
    assert vi in said(t, "vi"), said(t, "vi")
    assert en in said(t, "en"), said(t, "en")
    assert "Xác nhận gia hạn" in said(t, "vi")
    assert (t.draft.get("pp"), t.draft.get("ip")) == (before.get("pp"), before.get("ip"))


def test_a_renewal_only_code_typed_in_registration_has_its_text_too() -> None:
    """``reg.coupon.not_for_purchase`` was missing: a renewal-only code typed while
    registering could not be refused in words."""
    for lang in ("vi", "en"):
        assert "X" in RENDER.text(lang, Msg("reg.coupon.not_for_purchase", {"code": "X"}))
