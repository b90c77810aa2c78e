"""Pricing properties over random catalogs and selections.

The oracle recomputes every rounding step with ``Fraction`` (exact rationals), independently of
the ``Decimal``/integer arithmetic of ``domain.pricing``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from domain.errors import DomainError
from domain.pricing import PromotionUsage, Quote, Selection, quote

TODAY = date(2026, 3, 15)
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Case:
    catalog: Catalog
    selection: Selection


def half_up(value: Fraction) -> int:
    """Round half-up (away from zero; values here are ≥ 0)."""
    return int((value + Fraction(1, 2)) // 1)


# Typical catalog prices (multiples of 50 make 3 % or 12,5 % land on ,5 đồng) and any price.
prices = st.one_of(
    st.sampled_from([0, 1, 15, 150, 1_001, 120_050, 1_800_000, 99_999_999]),
    st.integers(0, 1_000_000).map(lambda n: 50 * n),
    st.integers(0, 50_000_000),
)
percents = st.one_of(
    st.sampled_from(
        [Decimal(p) for p in ("3", "5", "7", "10", "12.5", "15", "33.33", "50", "100")]
    ),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal(100), places=2),
)
taxes = st.sampled_from(list(TaxCategory))
units = st.sampled_from(list(PeriodUnit))


@st.composite
def tier_tables(draw: st.DrawFn) -> tuple[PriceTier, ...]:
    bounds = sorted(draw(st.sets(st.integers(1, 100), max_size=3)))
    tiers = [PriceTier(b, draw(st.integers(0, 2_000_000))) for b in bounds]
    return (*tiers, PriceTier(None, draw(st.integers(0, 2_000_000))))


@st.composite
def promotions(draw: st.DrawFn, code: str, scope: PromotionScope) -> Promotion:
    if draw(st.booleans()):
        pct = draw(percents)
        cap = draw(st.none() | st.integers(1, 5_000_000))
        return Promotion(code, code, scope, percent=pct, max_discount=cap)
    return Promotion(code, code, scope, amount=draw(st.integers(1, 60_000_000)))


@st.composite
def cases(draw: st.DrawFn) -> Case:
    strategy = draw(st.sampled_from(list(PricingStrategy)))
    tiered = strategy not in (PricingStrategy.FLAT, PricingStrategy.UNIT)
    cycle = BillingCycle(
        "C",
        draw(st.integers(1, 24)),
        draw(units),
        0 if tiered else draw(prices),
        draw(tier_tables()) if tiered else (),
    )
    addons = tuple(
        Addon(
            f"A{i}",
            f"Add-on {i}",
            draw(taxes),
            kind,
            draw(prices),
            draw(units) if kind is AddonType.PERIODIC else None,
        )
        for i, kind in enumerate(draw(st.lists(st.sampled_from(list(AddonType)), max_size=6)))
    )
    plan = Plan(
        "P",
        "Plan",
        draw(taxes),
        strategy,
        (cycle,),
        addons=tuple(a.code for a in addons),
        setup_fee=draw(st.sampled_from([0, 0, 1, 999_999]) | prices),
    )
    ticked = tuple(
        draw(st.lists(st.sampled_from([a.code for a in addons]), unique=True)) if addons else ()
    )
    promos: list[Promotion] = []
    plan_promo = None
    if draw(st.booleans()):
        promos.append(draw(promotions("KM-P", PromotionScope.PLAN)))
        plan_promo = "KM-P"
    addon_promos: list[tuple[str, str]] = []
    for code in ticked:
        if draw(st.booleans()):
            promos.append(draw(promotions(f"KM-{code}", PromotionScope.ADDON)))
            addon_promos.append((code, f"KM-{code}"))
    invoice = [f"INV{i}" for i in range(draw(st.integers(0, 4)))]
    promos.extend(draw(promotions(c, PromotionScope.INVOICE)) for c in invoice)
    quantity = 1 if strategy is PricingStrategy.FLAT else draw(st.integers(1, 150))
    service = Service("S", "Service", ServiceKind.ON, (plan,), addons)
    return Case(
        Catalog((service,), tuple(promos)),
        Selection(
            "S",
            "P",
            "C",
            quantity,
            ticked,
            plan_promo,
            tuple(addon_promos),
            tuple(invoice),
        ),
    )


@st.composite
def crowded_cases(draw: st.DrawFn) -> Case:
    """Many small lines and one invoice discount: ties, leftovers and spills are common (many
    equal lines and a slightly larger plan make the largest line too small for the leftover)."""
    equal = draw(st.integers(1, 5))
    small = st.just(equal) if draw(st.booleans()) else st.just(equal) | st.integers(0, 30)
    addons = tuple(
        Addon(f"A{i}", f"Add-on {i}", draw(taxes), AddonType.ONCE, draw(small))
        for i in range(draw(st.integers(2, 14)))
    )
    cycle = BillingCycle("C", 1, PeriodUnit.MONTH, draw(st.integers(equal, equal + 2) | small))
    plan = Plan(
        "P",
        "Plan",
        draw(taxes),
        PricingStrategy.FLAT,
        (cycle,),
        addons=tuple(a.code for a in addons),
    )
    subtotal = cycle.price + sum(a.price for a in addons)
    amount = draw(st.integers(1, max(1, subtotal)))
    invoice = draw(
        st.just(Promotion("INV", "INV", PromotionScope.INVOICE, amount=amount))
        | st.builds(
            lambda pct: Promotion("INV", "INV", PromotionScope.INVOICE, percent=pct), percents
        )
    )
    service = Service("S", "Service", ServiceKind.ON, (plan,), addons)
    ticked = tuple(a.code for a in addons)
    return Case(
        Catalog((service,), (invoice,)),
        Selection("S", "P", "C", addon_codes=ticked, invoice_promotions=("INV",)),
    )


def run(case: Case) -> Quote:
    return quote(case.catalog, case.selection, today=TODAY, usage=PromotionUsage())


def exact_discount(promo: Promotion, amount: Fraction) -> Fraction:
    if promo.percent is not None:
        d = amount * Fraction(promo.percent) / 100
        if promo.max_discount is not None:
            d = min(d, Fraction(promo.max_discount))
    else:
        d = Fraction(promo.amount or 0)
    return max(Fraction(0), min(d, amount))


def promotion(case: Case, code: str) -> Promotion:
    promo = case.catalog.promotion(code)
    assert promo is not None
    return promo


@SETTINGS
@given(cases())
def test_totals_add_up_to_the_dong(case: Case) -> None:
    q = run(case)
    assert q.subtotal == sum(line.base_amount for line in q.lines)
    assert q.line_discount_total == sum(line.line_discount for line in q.lines)
    assert q.invoice_discount_total == sum(line.invoice_discount for line in q.lines)
    assert q.net_total == sum(line.net_amount for line in q.lines)
    assert q.net_total == q.subtotal - q.line_discount_total - q.invoice_discount_total
    assert q.total == q.subtotal - q.line_discount_total - q.invoice_discount_total + q.vat_total
    assert q.vat_total == sum(g.vat for g in q.vat_groups)
    assert sum(g.base for g in q.vat_groups) == q.net_total
    assert sum(d.amount for d in q.invoice_discounts) == q.invoice_discount_total
    for group in q.vat_groups:
        assert group.base == sum(line.net_amount for line in q.lines if line.tax is group.tax)
        assert group.vat == half_up(group.base * Fraction(group.tax.rate))
    assert len({g.tax for g in q.vat_groups}) == len(q.vat_groups)
    assert {g.tax for g in q.vat_groups} == {line.tax for line in q.lines}


@SETTINGS
@given(cases())
def test_nothing_is_negative_and_no_discount_exceeds_its_amount_or_cap(case: Case) -> None:
    q = run(case)
    numbers = [q.subtotal, q.net_total, q.vat_total, q.total, q.invoice_discount_total]
    for line in q.lines:
        numbers += [line.base_amount, line.line_discount, line.invoice_discount, line.net_amount]
        assert line.line_discount <= line.base_amount
        assert line.invoice_discount <= line.base_amount - line.line_discount
        if line.promotion_code is not None:
            promo = promotion(case, line.promotion_code)
            if promo.max_discount is not None:
                assert line.line_discount <= promo.max_discount
            if promo.amount is not None:
                assert line.line_discount <= promo.amount
    numbers += [d.amount for d in q.invoice_discounts] + [g.vat for g in q.vat_groups]
    assert min(numbers) >= 0
    remaining = q.discounted_subtotal
    for code, amount in q.invoice_discounts:
        promo = promotion(case, code)
        assert amount <= remaining
        if promo.max_discount is not None:
            assert amount <= promo.max_discount
        if promo.amount is not None:
            assert amount <= promo.amount
        remaining -= amount
    assert remaining == q.net_total


def expected_plan_base(plan: Plan, quantity: int) -> int:
    (cycle,) = plan.cycles
    if plan.pricing in (PricingStrategy.FLAT, PricingStrategy.UNIT):
        return cycle.price * quantity
    reached = next(t for t in cycle.tiers if t.up_to is None or quantity <= t.up_to)
    if plan.pricing is PricingStrategy.VOLUME:
        return reached.price * quantity
    if plan.pricing is PricingStrategy.STAIRSTEP:
        return reached.price
    return sum(
        t.price
        for unit in range(1, quantity + 1)
        for t in [next(t for t in cycle.tiers if t.up_to is None or unit <= t.up_to)]
    )


DAYS = {PeriodUnit.DAY: 1, PeriodUnit.WEEK: 7, PeriodUnit.MONTH: 30, PeriodUnit.YEAR: 360}


def expected_addon_base(addon: Addon, cycle: BillingCycle) -> int:
    if addon.type is AddonType.ONCE:
        return addon.price
    assert addon.unit is not None
    return half_up(addon.price * Fraction(cycle.every * DAYS[cycle.unit], DAYS[addon.unit]))


def check_against_oracle(case: Case, q: Quote) -> None:
    service = case.catalog.service("S")
    assert service is not None
    plan = service.plans[0]
    expected_bases = [expected_plan_base(plan, case.selection.quantity)]
    if plan.setup_fee:
        expected_bases.append(plan.setup_fee)
    for code in plan.addons:
        addon = service.addon(code)
        if addon is not None and code in case.selection.addon_codes:
            expected_bases.append(expected_addon_base(addon, plan.cycles[0]))
    assert [line.base_amount for line in q.lines] == expected_bases

    after = []
    for line in q.lines:
        base = Fraction(line.base_amount)
        if line.promotion_code is None:
            assert line.line_discount == 0
            after.append(line.base_amount)
            continue
        exact = base - exact_discount(promotion(case, line.promotion_code), base)
        assert line.base_amount - line.line_discount == half_up(exact)
        after.append(half_up(exact))
    subtotal = sum(after)
    running = Fraction(subtotal)
    shown = subtotal
    for code, amount in q.invoice_discounts:
        running -= exact_discount(promotion(case, code), running)
        assert amount == shown - half_up(running)
        shown = half_up(running)
    assert [d.promotion_code for d in q.invoice_discounts] == list(
        case.selection.invoice_promotions
    )
    assert q.net_total == shown

    if subtotal == 0:
        assert all(line.net_amount == 0 for line in q.lines)
        return
    nets = [line.net_amount for line in q.lines]
    rounded = [half_up(Fraction(m * shown, subtotal)) for m in after]
    leftover = shown - sum(rounded)
    deviations = [n - r for n, r in zip(nets, rounded, strict=True)]
    assert sum(deviations) == leftover
    assert all(d * leftover >= 0 for d in deviations), "adjustments go one way only"
    # adjustments fill the lines largest first (first on a tie), each up to its limit
    order = sorted(range(len(after)), key=lambda i: (-after[i], i))
    touched = [i for i in order if deviations[i]]
    if touched:
        last = order.index(touched[-1])
        for i in order[:last]:
            limit = after[i] if leftover > 0 else 0
            assert nets[i] == limit


@SETTINGS
@given(cases())
def test_rounding_matches_an_exact_rational_oracle(case: Case) -> None:
    check_against_oracle(case, run(case))


@SETTINGS
@given(crowded_cases())
def test_spreading_over_many_small_lines(case: Case) -> None:
    q = run(case)
    check_against_oracle(case, q)
    assert q.net_total == sum(line.net_amount for line in q.lines)
    assert all(0 <= line.net_amount <= line.base_amount for line in q.lines)


@SETTINGS
@given(cases())
def test_repeatable_and_round_trips(case: Case) -> None:
    q = run(case)
    assert run(case) == q
    data = q.to_dict()
    assert run(case).to_dict() == data
    text = json.dumps(data, ensure_ascii=False)
    assert Quote.from_dict(json.loads(text)) == q
    assert Quote.from_dict(data).to_dict() == data


@st.composite
def wild_selections(draw: st.DrawFn, case: Case) -> Selection:
    codes = st.sampled_from(["S", "P", "C", "A0", "A1", "A9", "KM-P", "KM-A0", "INV0", "INV1", "X"])
    return Selection(
        draw(st.sampled_from(["S", "X"])),
        draw(st.sampled_from(["P", "X"])),
        draw(st.sampled_from(["C", "X"])),
        draw(st.integers(-1, 3)),
        tuple(draw(st.lists(codes, max_size=3))),
        draw(st.none() | codes),
        tuple(draw(st.lists(st.tuples(codes, codes), max_size=2))),
        tuple(draw(st.lists(codes, max_size=3))),
    )


@SETTINGS
@given(st.data())
def test_any_selection_prices_or_raises_a_domain_error(data: st.DataObject) -> None:
    case = data.draw(cases())
    selection = data.draw(wild_selections(case))
    used = {
        "total": data.draw(st.dictionaries(st.sampled_from(["KM-P", "INV0"]), st.integers(0, 3))),
    }
    try:
        q = quote(case.catalog, selection, today=TODAY, usage=PromotionUsage(**used))
    except DomainError as exc:
        assert exc.key.startswith("error.")
    else:
        assert q.total >= 0
        assert q.lines[0].code == "P"


@SETTINGS
@given(prices, promotions("KM", PromotionScope.PLAN), taxes)
def test_line_promotion_rounds_the_line_total_not_the_discount(
    price: int, promo: Promotion, tax: TaxCategory
) -> None:
    cycle = BillingCycle("C", 1, PeriodUnit.YEAR, price)
    service = Service(
        "S", "S", ServiceKind.ON, (Plan("P", "P", tax, PricingStrategy.FLAT, (cycle,)),)
    )
    case = Case(Catalog((service,), (promo,)), Selection("S", "P", "C", plan_promotion="KM"))
    q = run(case)
    check_against_oracle(case, q)
    exact = Fraction(price) - exact_discount(promo, Fraction(price))
    assert q.net_total == half_up(exact)
    assert abs(q.lines[0].line_discount - exact_discount(promo, Fraction(price))) <= Fraction(1, 2)
