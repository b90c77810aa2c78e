"""A coupon chosen at the renewal summary is checked again when the renewal order is placed
(in-memory unit of work): under the promotions' lock, its quota is taken by the order, a second
use past the quota is refused with its reason, and a code for new registrations only is refused
on a renewal."""

from __future__ import annotations

from datetime import UTC, timedelta
from decimal import Decimal

import pytest

from domain.catalog import Catalog, Promotion, PromotionScope, Purchase
from domain.usecases.renewal import PlaceRenewal, RenewalOutcomeKind, RenewalRequest
from tests.fakes.uow import FakeDatabase
from tests.integration.test_change_usecases import MY, ChangeWorld
from tests.integration.test_payment_usecases import OWNER, OWNER_CHAT, Clock, vn

ONCE = Promotion(
    "KM-GH",
    "Gia hạn giảm 10 %",
    PromotionScope.PLAN,
    percent=Decimal(10),
    quota=1,
    purchases=(Purchase.RENEWAL,),
    coupon_code="GiaHan",
)
NEW_ONLY = Promotion(
    "KM-MOI", "Chỉ đăng ký mới", PromotionScope.PLAN, percent=Decimal(10), coupon_code="MOI"
)
CODES = Catalog(services=MY.services, promotions=(*MY.promotions, ONCE, NEW_ONLY))


@pytest.fixture
async def w() -> ChangeWorld:
    clock = Clock(vn(2026, 3, 10, 9, 0).astimezone(UTC))
    return await ChangeWorld(FakeDatabase(), clock).seed()  # type: ignore[arg-type]


async def test_the_quota_of_a_renewal_coupon_is_taken_by_the_order(w: ChangeWorld) -> None:
    first, second = await w.active(), await w.active()
    async with w.db.uow as uow:  # the stored catalog knows the coupons (redemptions name them)
        await uow.catalog.replace(CODES)
        await uow.commit()
    w.clock.at = first.current_period_end - timedelta(days=2)
    place = PlaceRenewal(w.uow, lambda: CODES, w.clock)

    def req(sub_id: int, total: int, key: str, promo: str) -> RenewalRequest:
        return RenewalRequest(
            OWNER, sub_id, "M12", total, key, "vi", OWNER_CHAT, plan_promotion=promo
        )

    # 1.200.000 − 10 % = 1.080.000, + 10 % VAT = 1.188.000
    placed = await place(req(first.id, 1_188_000, "a", "KM-GH"))
    assert placed.outcome.kind is RenewalOutcomeKind.CREATED
    assert placed.order is not None and placed.order.plan_promotion == "KM-GH"
    used = await place(req(second.id, 1_188_000, "b", "KM-GH"))
    assert (used.outcome.kind, used.outcome.reason) == (
        RenewalOutcomeKind.PRICE_CHANGED,
        "refusal.quota_exhausted",
    )
    new_only = await place(req(second.id, 1_188_000, "c", "KM-MOI"))
    assert new_only.outcome.reason == "refusal.not_for_purchase"
