"""Pricing: hand-checked worked examples, with the arithmetic written out next to each assert."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from domain.catalog import (
    Addon,
    AddonType,
    BillingCycle,
    Catalog,
    PeriodUnit,
    Plan,
    PriceTier,
    PricingStrategy,
    Promotion,
    PromotionScope,
    Service,
    ServiceKind,
    TaxCategory,
)
from domain.errors import CatalogInvalid, InvalidInput, NotFound, PromotionNotApplicable
from domain.pricing import (
    InvoiceDiscount,
    LineKind,
    PromotionRefusal,
    PromotionUsage,
    Quote,
    QuoteLine,
    Selection,
    VatGroup,
    addon_base_amount,
    check_promotion,
    eligible_promotions,
    line_base_amount,
    promotion_discount,
    quote,
)

TODAY = date(2026, 3, 15)
NO_USE = PromotionUsage()
M1 = BillingCycle("M1", 1, PeriodUnit.MONTH, 0)
M12 = BillingCycle("M12", 12, PeriodUnit.MONTH, 0)
D7 = BillingCycle("D7", 7, PeriodUnit.DAY, 0)


def flat_plan(price: int, *, tax: TaxCategory = TaxCategory.VAT10, **kw: object) -> Plan:
    fields: dict[str, object] = {
        "code": "P",
        "name": "Gói",
        "tax": tax,
        "pricing": PricingStrategy.FLAT,
        "cycles": (BillingCycle("M12", 12, PeriodUnit.MONTH, price),),
    }
    fields.update(kw)
    return Plan(**fields)  # type: ignore[arg-type]


def once(code: str, price: int, tax: TaxCategory = TaxCategory.KCT) -> Addon:
    return Addon(code, f"Add-on {code}", tax, AddonType.ONCE, price)


def monthly(code: str, price: int, tax: TaxCategory = TaxCategory.VAT10) -> Addon:
    return Addon(code, f"Add-on {code}", tax, AddonType.PERIODIC, price, PeriodUnit.MONTH)


def percent(code: str, scope: PromotionScope, pct: str, **kw: object) -> Promotion:
    return Promotion(code, code, scope, percent=Decimal(pct), **kw)  # type: ignore[arg-type]


def fixed(code: str, scope: PromotionScope, amount: int, **kw: object) -> Promotion:
    return Promotion(code, code, scope, amount=amount, **kw)  # type: ignore[arg-type]


def catalog(
    plan: Plan, addons: tuple[Addon, ...] = (), promos: tuple[Promotion, ...] = ()
) -> Catalog:
    plan = replace(plan, addons=plan.addons or tuple(a.code for a in addons))
    return Catalog((Service("S", "Dịch vụ", ServiceKind.ON, (plan,), addons),), promos)


def price(cat: Catalog, **kw: object) -> Quote:
    fields: dict[str, object] = {"service_code": "S", "plan_code": "P", "cycle_code": "M12"}
    fields.update(kw)
    return quote(cat, Selection(**fields), today=TODAY, usage=NO_USE)  # type: ignore[arg-type]


PLAN, ADDON, INVOICE = PromotionScope.PLAN, PromotionScope.ADDON, PromotionScope.INVOICE


# --- line promotions ------------------------------------------------------------------------


def test_three_percent_of_120_050_rounds_the_line_not_the_discount() -> None:
    cat = catalog(flat_plan(120_050), promos=(percent("KM3", PLAN, "3"),))
    q = price(cat, plan_promotion="KM3")
    (line,) = q.lines
    # 3 % × 120.050 = 3.601,5; line total 116.448,5 → 116.449; discount shown 120.050 − 116.449
    assert (line.base_amount, line.line_discount, line.net_amount) == (120_050, 3_601, 116_449)
    assert line.promotion_code == "KM3"
    # VAT 10 % × 116.449 = 11.644,9 → 11.645
    assert q.vat_groups == (VatGroup(TaxCategory.VAT10, 116_449, 11_645),)
    assert (q.subtotal, q.line_discount_total, q.net_total) == (120_050, 3_601, 116_449)
    assert q.total == 116_449 + 11_645 == 128_094


def test_percent_cap_limits_a_line_discount() -> None:
    promo = percent("KM20", PLAN, "20", max_discount=200_000)
    q = price(catalog(flat_plan(1_800_000), promos=(promo,)), plan_promotion="KM20")
    # 20 % × 1.800.000 = 360.000 > cap 200.000
    assert q.lines[0].line_discount == 200_000
    assert q.net_total == 1_600_000
    assert q.vat_total == 160_000
    assert q.total == 1_760_000
    # under the cap the percent applies: 20 % × 900.000 = 180.000
    q = price(catalog(flat_plan(900_000), promos=(promo,)), plan_promotion="KM20")
    assert q.lines[0].line_discount == 180_000


def test_fixed_amount_bigger_than_the_line_stops_at_zero() -> None:
    cat = catalog(
        flat_plan(100_000),
        (once("A", 30_000),),
        (fixed("KM50K", ADDON, 50_000),),
    )
    q = price(cat, addon_codes=("A",), addon_promotions=(("A", "KM50K"),))
    addon = q.lines[1]
    # min(50.000, 30.000) = 30.000: the add-on costs 0, the plan is untouched
    assert (addon.base_amount, addon.line_discount, addon.net_amount) == (30_000, 30_000, 0)
    assert q.lines[0].net_amount == 100_000
    assert q.net_total == 100_000
    assert q.vat_groups == (
        VatGroup(TaxCategory.KCT, 0, 0),
        VatGroup(TaxCategory.VAT10, 100_000, 10_000),
    )


def test_percent_100_makes_everything_free() -> None:
    cat = catalog(flat_plan(999_999), promos=(percent("FREE", INVOICE, "100"),))
    q = price(cat, invoice_promotions=("FREE",))
    assert (q.net_total, q.vat_total, q.total) == (0, 0, 0)
    assert q.invoice_discounts == (InvoiceDiscount("FREE", 999_999),)


# --- invoice promotions ---------------------------------------------------------------------


def test_two_ten_percent_invoice_promotions_give_nineteen_percent() -> None:
    promos = (percent("A10", INVOICE, "10"), percent("B10", INVOICE, "10"))
    q = price(catalog(flat_plan(1_000_000), promos=promos), invoice_promotions=("A10", "B10"))
    # 1.000.000 → −10 % = 900.000 → −10 % = 810.000: 190.000 = 19 %
    assert q.invoice_discounts == (("A10", 100_000), ("B10", 90_000))
    assert q.invoice_discount_total == 190_000
    assert q.lines[0].invoice_discount == 190_000
    assert q.net_total == 810_000
    assert q.total == 810_000 + 81_000


def test_invoice_steps_are_rounded_consistently_and_add_up() -> None:
    promos = tuple(percent(c, INVOICE, "10") for c in ("A", "B", "C"))
    q = price(catalog(flat_plan(1_001), promos=promos), invoice_promotions=("A", "B", "C"))
    # 1.001 → 900,9 (shown 901) → 810,81 (811) → 729,729 (730)
    # amounts: 1.001 − 901 = 100; 901 − 811 = 90; 811 − 730 = 81; sum 271 = 1.001 − 730
    assert q.invoice_discounts == (("A", 100), ("B", 90), ("C", 81))
    assert q.net_total == 730


def test_invoice_cap_and_order_of_application() -> None:
    capped = percent("P50", INVOICE, "50", max_discount=100_000)
    minus = fixed("F300", INVOICE, 300_000)
    cat = catalog(flat_plan(1_000_000), promos=(capped, minus))
    # 50 % of 1.000.000 capped to 100.000 → 900.000; −300.000 → 600.000
    q = price(cat, invoice_promotions=("P50", "F300"))
    assert q.invoice_discounts == (("P50", 100_000), ("F300", 300_000))
    assert q.net_total == 600_000
    # the other way round: 700.000, then 50 % = 350.000 capped to 100.000 → 600.000
    q = price(cat, invoice_promotions=("F300", "P50"))
    assert q.invoice_discounts == (("F300", 300_000), ("P50", 100_000))


def test_invoice_fixed_amount_bigger_than_the_rest_stops_at_zero() -> None:
    promos = (percent("H", INVOICE, "60"), fixed("BIG", INVOICE, 1_000_000))
    q = price(catalog(flat_plan(500_000), promos=promos), invoice_promotions=("H", "BIG"))
    # 500.000 → 200.000 → max(0, 200.000 − 1.000.000) = 0
    assert q.invoice_discounts == (("H", 300_000), ("BIG", 200_000))
    assert (q.net_total, q.total) == (0, 0)


def test_spreading_over_mixed_tax_rates() -> None:
    cat = catalog(flat_plan(100_001), (once("A", 33_333),), (percent("I7", INVOICE, "7"),))
    q = price(cat, addon_codes=("A",), invoice_promotions=("I7",))
    # subtotal 133.334; 7 % = 9.333,38 → 124.000,62 → invoice total 124.001, discount 9.333
    assert q.invoice_discounts == (("I7", 9_333),)
    plan, addon = q.lines
    # plan: 100.001 × 124.001 / 133.334 = 93.001,215 → 93.001 (share 7.000)
    assert (plan.net_amount, plan.invoice_discount) == (93_001, 7_000)
    # add-on (KCT): 33.333 × 124.001 / 133.334 = 30.999,785 → 31.000 (share 2.333)
    assert (addon.net_amount, addon.invoice_discount) == (31_000, 2_333)
    # each rate keeps its own base: VAT 10 % × 93.001 = 9.300,1 → 9.300; KCT has none
    assert q.vat_groups == (
        VatGroup(TaxCategory.KCT, 31_000, 0),
        VatGroup(TaxCategory.VAT10, 93_001, 9_300),
    )
    assert q.net_total == 124_001
    assert q.total == 124_001 + 9_300 == 133_301


def test_kct_and_zero_percent_are_separate_groups() -> None:
    cat = catalog(
        flat_plan(200_000, tax=TaxCategory.VAT8),
        (once("K", 50_000, TaxCategory.KCT), once("Z", 70_000, TaxCategory.VAT0)),
    )
    q = price(cat, addon_codes=("Z", "K"))
    assert q.vat_groups == (
        VatGroup(TaxCategory.KCT, 50_000, 0),
        VatGroup(TaxCategory.VAT0, 70_000, 0),
        VatGroup(TaxCategory.VAT8, 200_000, 16_000),  # 8 % × 200.000
    )
    assert q.total == 320_000 + 16_000


def test_vat_is_rounded_per_group_not_per_line() -> None:
    cat = catalog(flat_plan(15, tax=TaxCategory.VAT10), (once("A", 15, TaxCategory.VAT10),))
    q = price(cat, addon_codes=("A",))
    # per line 1,5 + 1,5 would round to 2 + 2 = 4; per group 10 % × 30 = 3
    assert q.vat_groups == (VatGroup(TaxCategory.VAT10, 30, 3),)


def test_leftover_dong_goes_to_the_largest_line() -> None:
    cat = catalog(
        flat_plan(100),
        (once("A", 100, TaxCategory.VAT10), once("B", 300, TaxCategory.VAT10)),
        (fixed("ONE", INVOICE, 2),),
    )
    q = price(cat, addon_codes=("A", "B"), invoice_promotions=("ONE",))
    # total 500 − 2 = 498; exact shares 99,6 / 99,6 / 298,8 → 100 / 100 / 299 = 499;
    # the leftover −1 goes to the largest line (B, 300) → 298
    assert [line.net_amount for line in q.lines] == [100, 100, 298]
    assert [line.invoice_discount for line in q.lines] == [0, 0, 2]


def test_leftover_on_a_tie_goes_to_the_first_largest_line() -> None:
    cat = catalog(
        flat_plan(100),
        (once("A", 100, TaxCategory.VAT10), once("B", 100, TaxCategory.VAT10)),
        (fixed("ONE", INVOICE, 1),),
    )
    q = price(cat, addon_codes=("B", "A"), invoice_promotions=("ONE",))
    # 299 over three equal lines: 99,67 each → 100 × 3 = 300; −1 to the first line (the plan)
    assert [(line.code, line.net_amount) for line in q.lines] == [
        ("P", 99),
        ("A", 100),
        ("B", 100),
    ]


def test_leftover_the_largest_line_cannot_take_spills_to_the_next() -> None:
    addons = tuple(once(f"A{i}", 3, TaxCategory.VAT10) for i in range(10))
    cat = catalog(flat_plan(5), addons, (fixed("SEVEN", INVOICE, 7),))
    q = price(cat, addon_codes=tuple(a.code for a in addons), invoice_promotions=("SEVEN",))
    # subtotal 5 + 10 × 3 = 35 → 28; exact nets 4 and 10 × 2,4 → 4 + 10 × 2 = 24, leftover +4;
    # the plan (5) takes 1 (up to its amount), then A0, A1, A2 take 1 each
    assert [line.net_amount for line in q.lines] == [5, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2]
    assert q.net_total == 28
    assert q.invoice_discount_total == 7


def test_setup_fee_is_its_own_line_without_promotion() -> None:
    plan = flat_plan(1_000_000, setup_fee=500_000)
    cat = catalog(plan, promos=(percent("KM10", PLAN, "10"), percent("I10", INVOICE, "10")))
    q = price(cat, plan_promotion="KM10", invoice_promotions=("I10",))
    plan_line, setup = q.lines
    assert (setup.kind, setup.code, setup.tax) == (LineKind.SETUP, "P", TaxCategory.VAT10)
    # the plan promotion touches only the plan: 1.000.000 − 100.000 = 900.000
    assert (plan_line.line_discount, setup.line_discount) == (100_000, 0)
    assert setup.promotion_code is None
    # invoice 10 % of 1.400.000 = 140.000, spread 90.000 / 50.000
    assert (plan_line.invoice_discount, setup.invoice_discount) == (90_000, 50_000)
    assert (plan_line.net_amount, setup.net_amount) == (810_000, 450_000)
    assert q.vat_groups == (VatGroup(TaxCategory.VAT10, 1_260_000, 126_000),)


# --- line amounts ---------------------------------------------------------------------------


def unit_plan(
    strategy: PricingStrategy, tiers: tuple[PriceTier, ...] = (), price_: int = 0
) -> Plan:
    cycle = BillingCycle("M12", 12, PeriodUnit.MONTH, price_, tiers)
    return Plan("P", "Gói", TaxCategory.VAT10, strategy, (cycle,))


def test_unit_pricing_is_price_times_quantity() -> None:
    plan = unit_plan(PricingStrategy.UNIT, price_=50_000)
    assert line_base_amount(plan, plan.cycles[0], 5) == 250_000  # 5 × 50.000
    q = price(catalog(plan), quantity=5)
    assert (q.lines[0].quantity, q.lines[0].unit_price, q.lines[0].base_amount) == (
        5,
        50_000,
        250_000,
    )


TIERS = (PriceTier(10, 100), PriceTier(50, 80), PriceTier(None, 50))


@pytest.mark.parametrize(
    ("quantity", "amount", "unit_price"),
    [
        (1, 100, 100),
        (10, 1_000, 100),  # 10 × 100
        (11, 1_080, 80),  # 10 × 100 + 1 × 80
        (50, 4_200, 80),  # 10 × 100 + 40 × 80
        (60, 4_700, 50),  # 10 × 100 + 40 × 80 + 10 × 50
    ],
)
def test_tier_is_graduated(quantity: int, amount: int, unit_price: int) -> None:
    plan = unit_plan(PricingStrategy.TIER, TIERS)
    assert line_base_amount(plan, plan.cycles[0], quantity) == amount
    assert price(catalog(plan), quantity=quantity).lines[0].unit_price == unit_price


@pytest.mark.parametrize(
    ("quantity", "amount"),
    [(1, 100), (10, 1_000), (11, 880), (50, 4_000), (60, 3_000)],  # all units at one price
)
def test_volume_prices_all_units_at_the_reached_tier(quantity: int, amount: int) -> None:
    plan = unit_plan(PricingStrategy.VOLUME, TIERS)
    assert line_base_amount(plan, plan.cycles[0], quantity) == amount


STEPS = (PriceTier(10, 1_000_000), PriceTier(50, 3_000_000), PriceTier(None, 5_000_000))


@pytest.mark.parametrize(
    ("quantity", "amount"),
    [(1, 1_000_000), (10, 1_000_000), (11, 3_000_000), (50, 3_000_000), (51, 5_000_000)],
)
def test_stairstep_is_the_step_price_as_a_flat_amount(quantity: int, amount: int) -> None:
    plan = unit_plan(PricingStrategy.STAIRSTEP, STEPS)
    assert line_base_amount(plan, plan.cycles[0], quantity) == amount


def test_tier_table_without_a_last_unlimited_tier_refuses_more() -> None:
    plan = unit_plan(PricingStrategy.VOLUME, (PriceTier(10, 100), PriceTier(20, 90)))
    assert line_base_amount(plan, plan.cycles[0], 20) == 1_800
    with pytest.raises(InvalidInput) as err:
        line_base_amount(plan, plan.cycles[0], 21)
    assert err.value.params == {
        "field": "quantity",
        "reason": "above_maximum",
        "maximum": 20,
        "value": 21,
    }


def test_tier_pricing_without_tiers_is_a_catalog_error() -> None:
    plan = unit_plan(PricingStrategy.TIER)
    with pytest.raises(CatalogInvalid):
        line_base_amount(plan, plan.cycles[0], 1)


def test_periodic_addon_on_a_12_month_cycle_is_12_times_its_price() -> None:
    cat = catalog(flat_plan(1_800_000), (monthly("TSA", 30_000),))
    q = price(cat, addon_codes=("TSA",))
    addon = q.lines[1]
    assert (addon.kind, addon.unit_price, addon.base_amount) == (LineKind.ADDON, 30_000, 360_000)
    assert q.subtotal == 1_800_000 + 12 * 30_000


@pytest.mark.parametrize(
    ("cycle", "addon_price", "amount"),
    [
        (M1, 30_000, 30_000),
        (M12, 30_000, 360_000),
        (BillingCycle("Y1", 1, PeriodUnit.YEAR, 0), 30_000, 360_000),  # 1 year = 12 months
        (D7, 30_000, 7_000),  # 7/30 × 30.000
        (D7, 10_000, 2_333),  # 7/30 × 10.000 = 2.333,33
        (BillingCycle("D1", 1, PeriodUnit.DAY, 0), 15, 1),  # 15 / 30 = 0,5 → 1 (half-up)
        (BillingCycle("D1", 1, PeriodUnit.DAY, 0), 14, 0),  # 14 / 30 = 0,47 → 0
    ],
)
def test_periodic_addon_amounts(cycle: BillingCycle, addon_price: int, amount: int) -> None:
    assert addon_base_amount(monthly("A", addon_price), cycle) == amount


def test_once_addon_costs_its_price_whatever_the_cycle() -> None:
    addon = once("SETUP-HELP", 500_000)
    for cycle in (M1, M12, D7):
        assert addon_base_amount(addon, cycle) == 500_000


def test_periodic_addon_without_unit_is_a_catalog_error() -> None:
    broken = Addon("A", "A", TaxCategory.KCT, AddonType.PERIODIC, 1_000)
    with pytest.raises(CatalogInvalid):
        addon_base_amount(broken, M12)


def test_addons_are_listed_in_the_plan_order_whatever_the_tick_order() -> None:
    cat = catalog(flat_plan(10), (once("A", 1), once("B", 2), once("C", 3)))
    q1 = price(cat, addon_codes=("C", "A"))
    q2 = price(cat, addon_codes=("A", "C"))
    assert [line.code for line in q1.lines] == ["P", "A", "C"]
    assert q1 == q2


# --- refusals -------------------------------------------------------------------------------


def refusal(
    promo: Promotion,
    *,
    scope: PromotionScope = PLAN,
    target: str = "P",
    amount: int = 100_000,
    usage: PromotionUsage = NO_USE,
) -> str | None:
    try:
        check_promotion(
            promo, scope=scope, target_code=target, amount=amount, today=TODAY, usage=usage
        )
    except PromotionNotApplicable as exc:
        assert exc.code == promo.code
        assert exc.params == {"code": promo.code, "reason": exc.reason}
        return exc.reason
    return None


BASE = percent("KM", PLAN, "10")


@pytest.mark.parametrize(
    ("promo", "kwargs", "reason"),
    [
        (replace(BASE, active=False), {}, PromotionRefusal.INACTIVE),
        (BASE, {"scope": INVOICE}, PromotionRefusal.WRONG_SCOPE),
        (replace(BASE, applies_to=("OTHER",)), {}, PromotionRefusal.NOT_FOR_TARGET),
        (replace(BASE, starts=date(2026, 3, 16)), {}, PromotionRefusal.NOT_STARTED),
        (replace(BASE, ends=date(2026, 3, 14)), {}, PromotionRefusal.EXPIRED),
        (replace(BASE, min_amount=100_001), {}, PromotionRefusal.BELOW_MINIMUM),
        (
            replace(BASE, quota=5),
            {"usage": PromotionUsage(total={"KM": 5})},
            PromotionRefusal.QUOTA_EXHAUSTED,
        ),
        (
            replace(BASE, per_customer=1),
            {"usage": PromotionUsage(by_customer={"KM": 1})},
            PromotionRefusal.CUSTOMER_LIMIT_REACHED,
        ),
    ],
)
def test_every_refusal_reason(
    promo: Promotion, kwargs: dict[str, object], reason: PromotionRefusal
) -> None:
    assert refusal(promo, **kwargs) == reason.value  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("promo", "kwargs"),
    [
        (BASE, {}),
        (replace(BASE, applies_to=("P", "Q")), {}),
        (replace(BASE, starts=TODAY, ends=TODAY), {}),  # both ends inclusive
        (replace(BASE, min_amount=100_000), {}),  # the minimum itself is enough
        (replace(BASE, quota=5), {"usage": PromotionUsage(total={"KM": 4, "OTHER": 9})}),
        (replace(BASE, per_customer=2), {"usage": PromotionUsage(by_customer={"KM": 1})}),
    ],
)
def test_promotion_accepted_at_the_limits(promo: Promotion, kwargs: dict[str, object]) -> None:
    assert refusal(promo, **kwargs) is None  # type: ignore[arg-type]


def test_refusal_order_reports_the_first_failing_check() -> None:
    promo = replace(BASE, active=False, ends=date(2020, 1, 1), min_amount=10**9)
    assert refusal(promo) == "inactive"
    assert refusal(replace(promo, active=True)) == "expired"


def test_refusal_surfaces_through_quote() -> None:
    promo = percent("KM", PLAN, "10", quota=3)
    cat = catalog(flat_plan(100_000), promos=(promo,))
    sel = Selection("S", "P", "M12", plan_promotion="KM")
    with pytest.raises(PromotionNotApplicable) as err:
        quote(cat, sel, today=TODAY, usage=PromotionUsage(total={"KM": 3}))
    assert err.value.reason == PromotionRefusal.QUOTA_EXHAUSTED
    assert quote(cat, sel, today=TODAY, usage=PromotionUsage(total={"KM": 2})).net_total == 90_000


def test_addon_promotion_minimum_is_the_addon_line() -> None:
    promo = percent("KMA", ADDON, "10", min_amount=360_000)
    cat = catalog(flat_plan(10_000_000), (monthly("A", 30_000),), (promo,))
    q = price(cat, addon_codes=("A",), addon_promotions=(("A", "KMA"),))
    assert q.lines[1].line_discount == 36_000  # 12 × 30.000 = 360.000 ≥ the minimum
    # on a 1-month cycle the add-on line is 30.000 < 360.000, however big the plan is
    monthly_plan = replace(
        flat_plan(10_000_000), cycles=(BillingCycle("M1", 1, PeriodUnit.MONTH, 10_000_000),)
    )
    cat = catalog(monthly_plan, (monthly("A", 30_000),), (promo,))
    with pytest.raises(PromotionNotApplicable, match="below_minimum"):
        price(cat, cycle_code="M1", addon_codes=("A",), addon_promotions=(("A", "KMA"),))


def test_invoice_minimum_is_the_subtotal_after_line_discounts() -> None:
    line = percent("KM10", PLAN, "10")
    cat = catalog(
        flat_plan(1_000_000),
        promos=(
            line,
            fixed("I-900", INVOICE, 1, min_amount=900_000),
            fixed("I-901", INVOICE, 1, min_amount=900_001),
        ),
    )
    # 1.000.000 − 10 % = 900.000: enough for 900.000, not for 900.001
    assert price(cat, plan_promotion="KM10", invoice_promotions=("I-900",)).net_total == 899_999
    with pytest.raises(PromotionNotApplicable, match="below_minimum"):
        price(cat, plan_promotion="KM10", invoice_promotions=("I-901",))
    assert price(cat, invoice_promotions=("I-901",)).net_total == 999_999


def test_invoice_promotion_applies_to_lists_plans() -> None:
    promo = percent("I", INVOICE, "10", applies_to=("OTHER",))
    with pytest.raises(PromotionNotApplicable, match="not_for_target"):
        price(catalog(flat_plan(100), promos=(promo,)), invoice_promotions=("I",))


def test_eligible_promotions_are_the_usable_ones_by_code() -> None:
    promos = (
        percent("Z-PLAN", PLAN, "5"),
        percent("A-PLAN", PLAN, "5"),
        percent("M-OFF", PLAN, "5", active=False),
        percent("B-OTHER", PLAN, "5", applies_to=("OTHER",)),
        percent("C-MIN", PLAN, "5", min_amount=1_000_000),
        percent("D-QUOTA", PLAN, "5", quota=1),
        percent("E-INV", INVOICE, "5"),
    )
    cat = catalog(flat_plan(500_000), promos=promos)
    usage = PromotionUsage(total={"D-QUOTA": 1})
    found = eligible_promotions(cat, PLAN, "P", 500_000, TODAY, usage)
    assert [p.code for p in found] == ["A-PLAN", "Z-PLAN"]
    found = eligible_promotions(cat, INVOICE, "P", 500_000, TODAY, usage)
    assert [p.code for p in found] == ["E-INV"]


def test_promotion_discount_is_exact_and_bounded() -> None:
    assert promotion_discount(percent("X", PLAN, "3"), 120_050) == Decimal("3601.5")
    assert promotion_discount(percent("X", PLAN, "12.5", max_discount=100), 1_000) == 100
    assert promotion_discount(fixed("X", PLAN, 5_000), 3_000) == 3_000
    assert promotion_discount(fixed("X", PLAN, 5_000), 0) == 0


# --- bad selections -------------------------------------------------------------------------


def bad_catalog() -> Catalog:
    plan = flat_plan(100_000, addons=("A", "OFF", "GHOST"))
    plans = (plan, replace(plan, code="OLD", active=False))
    addons = (once("A", 1), once("B", 2), replace(once("OFF", 3), active=False))
    promos = (percent("KMA", ADDON, "5"), percent("I", INVOICE, "5"), percent("KMP", PLAN, "5"))
    services = (
        Service("S", "S", ServiceKind.ON, plans, addons),
        Service("GONE", "Gone", ServiceKind.OS, plans, active=False),
    )
    return Catalog(services, promos)


@pytest.mark.parametrize(
    ("selection", "error", "params"),
    [
        (
            {"service_code": "NOPE"},
            NotFound,
            {"field": "service_code", "code": "NOPE", "reason": "unknown"},
        ),
        (
            {"service_code": "GONE"},
            NotFound,
            {"field": "service_code", "code": "GONE", "reason": "inactive"},
        ),
        (
            {"plan_code": "NOPE"},
            NotFound,
            {"field": "plan_code", "code": "NOPE", "reason": "unknown"},
        ),
        (
            {"plan_code": "OLD"},
            NotFound,
            {"field": "plan_code", "code": "OLD", "reason": "inactive"},
        ),
        (
            {"cycle_code": "M1"},
            NotFound,
            {"field": "cycle_code", "code": "M1", "reason": "unknown"},
        ),
        (
            {"quantity": 0},
            InvalidInput,
            {"field": "quantity", "reason": "below_minimum", "minimum": 1, "value": 0},
        ),
        ({"quantity": 2}, InvalidInput, {"field": "quantity", "reason": "fixed", "value": 2}),
        (
            {"addon_codes": ("B",)},
            InvalidInput,
            {"field": "addon_codes", "reason": "not_allowed", "code": "B"},
        ),
        (
            {"addon_codes": ("GHOST",)},
            NotFound,
            {"field": "addon_codes", "code": "GHOST", "reason": "unknown"},
        ),
        (
            {"addon_codes": ("OFF",)},
            NotFound,
            {"field": "addon_codes", "code": "OFF", "reason": "inactive"},
        ),
        (
            {"addon_codes": ("A", "A")},
            InvalidInput,
            {"field": "addon_codes", "reason": "duplicate", "code": "A"},
        ),
        (
            {"addon_promotions": (("A", "KMA"),)},
            InvalidInput,
            {"field": "addon_promotions", "reason": "addon_not_selected", "code": "A"},
        ),
        (
            {"addon_codes": ("A",), "addon_promotions": (("A", "KMA"), ("A", "KMA"))},
            InvalidInput,
            {"field": "addon_promotions", "reason": "duplicate", "code": "A"},
        ),
        (
            {"invoice_promotions": ("I", "I")},
            InvalidInput,
            {"field": "invoice_promotions", "reason": "duplicate", "code": "I"},
        ),
        (
            {"plan_promotion": "NOPE"},
            NotFound,
            {"field": "plan_promotion", "code": "NOPE", "reason": "unknown"},
        ),
        (
            {"addon_codes": ("A",), "addon_promotions": (("A", "NOPE"),)},
            NotFound,
            {"field": "addon_promotions", "code": "NOPE", "reason": "unknown"},
        ),
        (
            {"invoice_promotions": ("NOPE",)},
            NotFound,
            {"field": "invoice_promotions", "code": "NOPE", "reason": "unknown"},
        ),
        ({"plan_promotion": "I"}, PromotionNotApplicable, {"code": "I", "reason": "wrong_scope"}),
        (
            {"invoice_promotions": ("KMP",)},
            PromotionNotApplicable,
            {"code": "KMP", "reason": "wrong_scope"},
        ),
        (
            {"addon_codes": ("A",), "addon_promotions": (("A", "KMP"),)},
            PromotionNotApplicable,
            {"code": "KMP", "reason": "wrong_scope"},
        ),
    ],
)
def test_bad_selections(
    selection: dict[str, object], error: type[Exception], params: dict[str, object]
) -> None:
    with pytest.raises(error) as err:
        price(bad_catalog(), **selection)
    assert err.value.params == params  # type: ignore[attr-defined]


def test_good_selection_on_the_bad_catalog_prices() -> None:
    q = price(
        bad_catalog(), addon_codes=("A",), addon_promotions=(("A", "KMA"),), plan_promotion="KMP"
    )
    assert [line.code for line in q.lines] == ["P", "A"]


def test_selection_promotion_codes_count_each_code_once() -> None:
    sel = Selection(
        "S",
        "P",
        "M12",
        addon_codes=("A", "B"),
        plan_promotion="X",
        addon_promotions=(("A", "Y"), ("B", "Y")),
        invoice_promotions=("Z", "X0"),
    )
    assert sel.promotion_codes == ("X", "X0", "Y", "Z")
    assert sel.addon_promotion("B") == "Y"
    assert sel.addon_promotion("C") is None
    assert hash(sel) == hash(replace(sel))


def test_usage_is_a_frozen_copy() -> None:
    counts = {"KM": 1}
    usage = PromotionUsage(total=counts)
    counts["KM"] = 9
    assert usage.total_uses("KM") == 1
    assert usage.total_uses("OTHER") == 0
    assert usage.customer_uses("KM") == 0
    with pytest.raises(TypeError):
        usage.total["KM"] = 2  # type: ignore[index]


# --- snapshot -------------------------------------------------------------------------------


def rich_quote() -> Quote:
    plan = flat_plan(100_001, setup_fee=20_000)
    cat = catalog(
        plan,
        (once("A", 33_333), monthly("TSA", 30_000, TaxCategory.VAT8)),
        (percent("I7", INVOICE, "7"), fixed("F1", INVOICE, 1_000), percent("KM3", PLAN, "3")),
    )
    return price(
        cat, plan_promotion="KM3", addon_codes=("A", "TSA"), invoice_promotions=("I7", "F1")
    )


def test_snapshot_round_trips_and_is_json_safe() -> None:
    q = rich_quote()
    data = q.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert Quote.from_dict(json.loads(json.dumps(data))) == q
    assert Quote.from_dict(data).to_dict() == data

    def kinds(value: object) -> set[type]:
        if isinstance(value, dict):
            return {dict} | set().union(*(kinds(v) for v in value.values()))
        if isinstance(value, list):
            return {list} | set().union(*(kinds(v) for v in value))
        return {type(value)}

    assert kinds(data) <= {dict, list, int, str}
    assert len(json.dumps(data, ensure_ascii=False)) < 600


def test_snapshot_exposes_the_totals_it_was_built_with() -> None:
    q = rich_quote()
    back = Quote.from_dict(q.to_dict())
    assert (back.subtotal, back.net_total, back.vat_total, back.total) == (
        q.subtotal,
        q.net_total,
        q.vat_total,
        q.total,
    )
    assert back.discounted_subtotal == q.subtotal - q.line_discount_total


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d["lines"][0].__setitem__(10, d["lines"][0][10] + 1),  # net ≠ base − discounts
        lambda d: d["invoice_discounts"][0].__setitem__(1, d["invoice_discounts"][0][1] + 1),
        lambda d: d["vat_groups"].pop(),
        lambda d: d["vat_groups"][0].__setitem__(1, d["vat_groups"][0][1] + 1),
        lambda d: d.__setitem__("v", 99),
        lambda d: d["lines"][0].__setitem__(4, "1"),
        lambda d: d["lines"][0].__setitem__(4, True),
        lambda d: d["lines"][0].pop(),
        lambda d: d["lines"][0].__setitem__(3, "7%"),
        lambda d: d["lines"][0].__setitem__(0, "gift"),
    ],
)
def test_snapshot_rejects_tampering(tamper: object) -> None:
    data = rich_quote().to_dict()
    tamper(data)  # type: ignore[operator]
    with pytest.raises(ValueError):
        Quote.from_dict(data)


def test_quote_refuses_inconsistent_lines() -> None:
    line = QuoteLine(LineKind.PLAN, "P", "P", TaxCategory.KCT, 1, 10, 10, None, 0, 0, 10)
    with pytest.raises(ValueError):
        replace(line, net_amount=9)
    with pytest.raises(ValueError):
        replace(line, line_discount=1, net_amount=9)  # a discount needs its promotion
    with pytest.raises(ValueError):
        Quote((line,), (), (VatGroup(TaxCategory.VAT0, 10, 0),))
    assert Quote((line,), (), (VatGroup(TaxCategory.KCT, 10, 0),)).total == 10
