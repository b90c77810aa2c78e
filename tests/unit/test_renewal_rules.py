"""The renewal rules added for issue 13 (no database): the period a paid renewal buys as stored
(UTC, on the Vietnamese calendar: month ends, leap years, before and after the end), the
catalog's ``purchases`` (validated, default new), renewal quotes (no setup fee, renewal
promotions only) and the settings."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from bot.settings import format_settings_errors, load_settings
from domain.catalog import (
    BillingCycle,
    Catalog,
    PeriodUnit,
    Plan,
    PricingStrategy,
    Promotion,
    PromotionScope,
    Purchase,
    Service,
    ServiceKind,
    TaxCategory,
)
from domain.catalog_parse import parse_catalog
from domain.constants import VN_TZ
from domain.errors import CatalogInvalid, PromotionNotApplicable
from domain.model import (
    EnterpriseId,
    OrderId,
    Subscription,
    SubscriptionStatus,
    UserId,
)
from domain.pricing import NO_USAGE, CheckoutOffer, Selection, quote
from domain.usecases.renewal.common import period_for
from tests.unit.test_catalog_parse import contract_sample

M1 = BillingCycle("M1", 1, PeriodUnit.MONTH, 100_000)
M12 = BillingCycle("M12", 12, PeriodUnit.MONTH, 1_000_000)
Y1 = BillingCycle("Y1", 1, PeriodUnit.YEAR, 1_000_000)
W2 = BillingCycle("W2", 2, PeriodUnit.WEEK, 50_000)


def vn(y: int, m: int, d: int, h: int = 9) -> datetime:
    """A moment given on the Vietnamese calendar, stored in UTC (as the database does)."""
    return datetime(y, m, d, h, tzinfo=VN_TZ).astimezone(UTC)


def sub(
    started: datetime,
    end: datetime,
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE,
    start: datetime | None = None,
) -> Subscription:
    return Subscription(
        code="TB-2026-000001",
        order_id=OrderId(1),
        enterprise_id=EnterpriseId(1),
        service_code="S",
        plan_code="P",
        cycle_code="M1",
        kind=ServiceKind.ON,
        registered_by=UserId(1),
        created_at=started,
        status=status,
        started_at=started,
        current_period_start=start or started,
        current_period_end=end,
    )


@pytest.mark.parametrize(
    ("started", "old_end", "cycle", "new_end"),
    [
        # month ends: 31 Jan → 28 Feb → 31 Mar (the anchor day comes back)
        (vn(2026, 1, 31), vn(2026, 2, 28), M1, vn(2026, 3, 31)),
        (vn(2026, 1, 31), vn(2026, 4, 30), M1, vn(2026, 5, 31)),
        # leap years
        (vn(2028, 1, 31), vn(2028, 2, 29), M1, vn(2028, 3, 31)),
        (vn(2028, 2, 29), vn(2029, 2, 28), Y1, vn(2030, 2, 28)),
        (vn(2028, 2, 29), vn(2031, 2, 28), Y1, vn(2032, 2, 29)),
        # another cycle of the plan
        (vn(2026, 1, 31), vn(2026, 2, 28), M12, vn(2027, 2, 28)),
        (vn(2026, 1, 1), vn(2026, 1, 15), W2, vn(2026, 1, 29)),
        # early morning in Vietnam is the day before in UTC: the Vietnamese day counts
        (vn(2026, 1, 31, 5), vn(2026, 2, 28, 5), M1, vn(2026, 3, 31, 5)),
        (vn(2026, 3, 1, 6), vn(2026, 4, 1, 6), M1, vn(2026, 5, 1, 6)),
    ],
)
def test_a_paid_renewal_extends_from_the_old_end_on_the_vietnamese_calendar(
    started: datetime, old_end: datetime, cycle: BillingCycle, new_end: datetime
) -> None:
    before = old_end - timedelta(days=5)  # paid early
    period, fresh = period_for(sub(started, old_end), cycle, before)
    assert (period.start, period.end, fresh) == (old_end, new_end, False)
    assert period.end.tzinfo is not None and period.end.utcoffset() == timedelta(0)


def test_a_renewal_paid_after_the_end_but_before_expiry_still_counts_from_the_old_end() -> None:
    old_end = vn(2026, 2, 28)
    late = old_end + timedelta(days=2)  # within the grace: the subscription is still ACTIVE
    period, fresh = period_for(sub(vn(2026, 1, 31), old_end), M1, late)
    assert (period.start, period.end, fresh) == (old_end, vn(2026, 3, 31), False)
    non_renewing = sub(vn(2026, 1, 31), old_end, SubscriptionStatus.NON_RENEWING)
    assert period_for(non_renewing, M1, late)[0].start == old_end


def test_a_renewal_of_an_expired_subscription_starts_a_fresh_period_at_payment() -> None:
    paid = vn(2026, 5, 31, 14)
    expired = sub(vn(2026, 1, 31), vn(2026, 2, 28), SubscriptionStatus.EXPIRED)
    period, fresh = period_for(expired, M1, paid)
    assert (period.start, period.end, fresh) == (paid, vn(2026, 6, 30, 14), True)


def test_an_anchor_from_the_first_period_is_kept_over_many_renewals() -> None:
    started = vn(2026, 1, 31)
    current = sub(started, vn(2026, 2, 28))
    ends = []
    for _ in range(4):
        assert current.current_period_end is not None
        period, _ = period_for(current, M1, current.current_period_end - timedelta(days=1))
        current = sub(started, period.end, start=period.start)
        ends.append(period.end.astimezone(VN_TZ).date())
    assert ends == [date(2026, 3, 31), date(2026, 4, 30), date(2026, 5, 31), date(2026, 6, 30)]


# --- the catalog: purchases --------------------------------------------------------------------


def with_promotion(**changes: Any) -> dict[str, Any]:
    data = contract_sample()
    promo = copy.deepcopy(data["promotions"][0])
    promo.update(changes)
    data["promotions"] = [promo]
    return data


def test_a_promotion_discounts_new_registrations_unless_it_says_otherwise() -> None:
    [promo] = parse_catalog(contract_sample()).promotions
    assert promo.purchases == (Purchase.NEW,)
    [both] = parse_catalog(with_promotion(purchases=["new", "renewal"])).promotions
    assert both.purchases == (Purchase.NEW, Purchase.RENEWAL)
    [renewal] = parse_catalog(with_promotion(purchases=["renewal"])).promotions
    assert renewal.purchases == (Purchase.RENEWAL,)


@pytest.mark.parametrize(
    ("value", "path", "message"),
    [
        ("renewal", "promotions[0].purchases", "must be a list"),
        ([], "promotions[0].purchases", "must not be empty"),
        (["upgrade"], "promotions[0].purchases[0]", "must be one of new, renewal"),
        (["new", "new"], "promotions[0].purchases[1]", "listed twice"),
    ],
)
def test_bad_purchases_are_reported_with_their_path(value: object, path: str, message: str) -> None:
    with pytest.raises(CatalogInvalid) as raised:
        parse_catalog(with_promotion(purchases=value))
    problems = raised.value.problems
    assert any(at == path and message in text for at, text in problems), problems


# --- renewal quotes -------------------------------------------------------------------------------

TODAY = date(2026, 6, 1)
CATALOG = Catalog(
    services=(
        Service(
            code="WIFI",
            name="Wifi",
            kind=ServiceKind.OS,
            plans=(
                Plan(
                    code="WIFI-SME",
                    name="Văn phòng",
                    tax=TaxCategory.VAT10,
                    pricing=PricingStrategy.FLAT,
                    cycles=(M1,),
                    setup_fee=500_000,
                ),
            ),
        ),
    ),
    promotions=(
        Promotion("NEW10", "Mới", PromotionScope.INVOICE, percent=Decimal(10)),
        Promotion(
            "RENEW20",
            "Gia hạn",
            PromotionScope.INVOICE,
            percent=Decimal(20),
            purchases=(Purchase.RENEWAL,),
        ),
        Promotion(
            "ALL5",
            "Mọi lần",
            PromotionScope.PLAN,
            percent=Decimal(5),
            purchases=(Purchase.NEW, Purchase.RENEWAL),
        ),
    ),
)


def test_a_renewal_quote_has_no_setup_fee_and_only_renewal_promotions() -> None:
    selection = Selection("WIFI", "WIFI-SME", "M1")
    new = quote(CATALOG, selection, today=TODAY, usage=NO_USAGE)
    renewal = quote(CATALOG, selection, today=TODAY, usage=NO_USAGE, purchase=Purchase.RENEWAL)
    assert new.subtotal == 600_000 and renewal.subtotal == 100_000
    assert renewal.total == 110_000  # 100.000 + 10 % VAT

    offer = CheckoutOffer(CATALOG, TODAY, purchase=Purchase.RENEWAL)
    invoice_codes = [p.code for p in offer.promotions(PromotionScope.INVOICE, "WIFI-SME", 100_000)]
    plan_codes = [p.code for p in offer.promotions(PromotionScope.PLAN, "WIFI-SME", 100_000)]
    assert (invoice_codes, plan_codes) == (["RENEW20"], ["ALL5"])
    new_offer = CheckoutOffer(CATALOG, TODAY)
    assert [p.code for p in new_offer.promotions(PromotionScope.INVOICE, "WIFI-SME", 1)] == [
        "NEW10"
    ]

    promoted = offer.quote(
        Selection("WIFI", "WIFI-SME", "M1", plan_promotion="ALL5", invoice_promotions=("RENEW20",))
    )
    # 100.000 − 5 % = 95.000; − 20 % = 76.000; + 10 % VAT = 83.600
    assert promoted.total == 83_600
    with pytest.raises(PromotionNotApplicable) as refused:
        offer.quote(Selection("WIFI", "WIFI-SME", "M1", invoice_promotions=("NEW10",)))
    assert refused.value.reason == "not_for_purchase"
    with pytest.raises(PromotionNotApplicable):
        new_offer.quote(Selection("WIFI", "WIFI-SME", "M1", invoice_promotions=("RENEW20",)))


# --- settings ---------------------------------------------------------------------------------


def test_renewal_settings() -> None:
    default = load_settings(_env_file=None)
    assert (default.renewal_grace_days, default.renewal_reminder_days) == (0, (7, 3, 1))
    chosen = load_settings(_env_file=None, RENEWAL_GRACE_DAYS="3", RENEWAL_REMINDER_DAYS="1, 14,3")
    assert (chosen.renewal_grace_days, chosen.renewal_reminder_days) == (3, (14, 3, 1))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RENEWAL_GRACE_DAYS", "-1"),
        ("RENEWAL_GRACE_DAYS", "two"),
        ("RENEWAL_REMINDER_DAYS", "7,0"),
        ("RENEWAL_REMINDER_DAYS", "7,7"),
        ("RENEWAL_REMINDER_DAYS", "a week"),
    ],
)
def test_bad_renewal_settings_are_named(name: str, value: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as raised:
        load_settings(_env_file=None, **{name: value})
    [line] = format_settings_errors(raised.value)
    assert line.startswith(f"{name}: ")
