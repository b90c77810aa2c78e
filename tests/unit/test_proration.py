"""The proration rule of docs/proration.md against cases computed by hand (arithmetic shown)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.catalog import (
    Addon,
    AddonType,
    BillingCycle,
    Catalog,
    DowngradePolicy,
    PeriodUnit,
    Plan,
    PricingStrategy,
    Service,
    ServiceKind,
    TaxCategory,
)
from domain.constants import VN_TZ
from domain.errors import InvalidInput
from domain.pricing import LineKind
from domain.proration import (
    CHARGE_CODE,
    CREDIT_CODE,
    Configuration,
    Settlement,
    prorate_change,
    vn_days,
)

M1 = PeriodUnit.MONTH


def _catalog(pro_downgrade: DowngradePolicy = DowngradePolicy.IMMEDIATELY) -> Catalog:
    basic = Plan(
        code="BASIC",
        name="Basic",
        tax=TaxCategory.VAT10,
        pricing=PricingStrategy.FLAT,
        cycles=(
            BillingCycle("M1", 1, M1, 300_000),
            BillingCycle("Y1", 1, PeriodUnit.YEAR, 3_000_000),
        ),
    )
    pro = Plan(
        code="PRO",
        name="Pro",
        tax=TaxCategory.VAT10,
        pricing=PricingStrategy.FLAT,
        cycles=(BillingCycle("M1", 1, M1, 600_000),),
        setup_fee=1_000_000,  # never charged on a change
        downgrade=pro_downgrade,
    )
    seats = Plan(
        code="SEATS",
        name="Seats",
        tax=TaxCategory.KCT,
        pricing=PricingStrategy.UNIT,
        cycles=(BillingCycle("M1", 1, M1, 50_000),),
        addons=("BACKUP", "SETUP"),
    )
    return Catalog(
        services=(
            Service(
                code="SVC",
                name="Service",
                kind=ServiceKind.ON,
                plans=(basic, pro, seats),
                addons=(
                    Addon("BACKUP", "Backup", TaxCategory.VAT10, AddonType.PERIODIC, 20_000, M1),
                    Addon("SETUP", "Setup", TaxCategory.VAT8, AddonType.ONCE, 200_000),
                ),
            ),
        )
    )


def vn(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=VN_TZ)


MARCH = {"period_start": vn(2026, 3, 1), "period_end": vn(2026, 4, 1)}


def test_days_are_vietnam_calendar_days_and_the_change_day_is_a_remaining_day() -> None:
    # 1 Mar → 1 Apr: 31 days. 10 Mar 16:59 UTC is 23:59 on 10 Mar in Vietnam: 1 Apr − 10 Mar
    # = 22 days remain; one minute later it is 11 Mar 00:00 in Vietnam: 21 days remain.
    start, end = vn(2026, 3, 1), vn(2026, 4, 1)
    assert vn_days(start, end, datetime(2026, 3, 10, 16, 59, tzinfo=UTC)) == (31, 22)
    assert vn_days(start, end, datetime(2026, 3, 10, 17, 0, tzinfo=UTC)) == (31, 21)
    # the first day of the period: every day remains; after the end: none
    assert vn_days(start, end, vn(2026, 3, 1, 8)) == (31, 31)
    assert vn_days(start, end, vn(2026, 4, 2)) == (31, 0)


def test_upgrade_on_the_same_cycle_pays_the_difference_with_vat() -> None:
    # BASIC 300.000 → PRO 600.000 a month, on 11 Mar: 21 of 31 days remain.
    # credit = 300.000 × 21 / 31 = 203.225,81 → 203.226
    # charge = 600.000 × 21 / 31 = 406.451,61 → 406.452 (PRO's setup fee is not charged)
    # net = 406.452 − 203.226 = 203.226; VAT 10 % = 20.322,6 → 20.323; total 223.549
    q = prorate_change(
        _catalog(),
        "SVC",
        Configuration("BASIC", "M1"),
        Configuration("PRO", "M1"),
        at=vn(2026, 3, 11, 9),
        **MARCH,
    )
    assert (q.days_total, q.days_remaining, q.new_period, q.downgrade) == (31, 21, False, False)
    assert q.credit_net == 203_226 and q.charge_net == 406_452
    assert q.settlement is Settlement.PAY
    assert q.quote is not None
    assert [(li.kind, li.code, li.base_amount, li.net_amount) for li in q.quote.lines] == [
        (LineKind.PLAN, "PRO", 406_452, 203_226)
    ]
    assert list(q.quote.invoice_discounts) == [(CREDIT_CODE, 203_226)]
    assert q.quote.vat_total == 20_323
    assert q.amount == q.quote.total == 223_549


def test_downgrade_immediately_credits_the_difference_as_a_memo() -> None:
    # PRO → BASIC on 11 Mar: credit 406.452, charge 203.226 (see above); the credit is larger:
    # the settlement is the credit line PRO 406.452 less the charge 203.226 = 203.226,
    # VAT 10 % = 20.322,6 → 20.323; credited 223.549
    q = prorate_change(
        _catalog(),
        "SVC",
        Configuration("PRO", "M1"),
        Configuration("BASIC", "M1"),
        at=vn(2026, 3, 11, 9),
        **MARCH,
    )
    assert q.downgrade and q.settlement is Settlement.CREDIT
    assert q.quote is not None
    assert list(q.quote.invoice_discounts) == [(CHARGE_CODE, 203_226)]
    assert q.quote.net_total == 203_226 and q.quote.vat_total == 20_323
    assert q.amount == 223_549


def test_downgrade_at_period_end_when_the_plan_says_so() -> None:
    q = prorate_change(
        _catalog(DowngradePolicy.AT_PERIOD_END),
        "SVC",
        Configuration("PRO", "M1"),
        Configuration("BASIC", "M1"),
        at=vn(2026, 3, 11, 9),
        **MARCH,
    )
    assert q.settlement is Settlement.AT_PERIOD_END
    assert q.quote is None and q.amount == 0
    # an upgrade from the same plan is not affected by its downgrade setting
    up = prorate_change(
        _catalog(DowngradePolicy.AT_PERIOD_END),
        "SVC",
        Configuration("BASIC", "M1"),
        Configuration("PRO", "M1"),
        at=vn(2026, 3, 11, 9),
        **MARCH,
    )
    assert up.settlement is Settlement.PAY and up.amount == 223_549


def test_quantity_and_add_ons_mixed_vat_spread_like_an_invoice_promotion() -> None:
    # SEATS 50.000 per seat per month (KCT), 3 → 5 seats, adding BACKUP (periodic 20.000 a
    # month, 10 %) and SETUP (once 200.000, 8 %). February 2026: 28 days; 15 Feb: 14 remain.
    # credit: 3 × 50.000 = 150.000 × 14/28 = 75.000
    # charge: 5 × 50.000 = 250.000 × 14/28 = 125.000; BACKUP 20.000 × 14/28 = 10.000;
    #         SETUP is new and once: 200.000 in full. charge = 335.000
    # the credit 75.000 is spread over the charge lines; they keep 335.000 − 75.000 = 260.000:
    #   SEATS  125.000 × 260.000/335.000 =  97.014,93 →  97.015
    #   BACKUP  10.000 × 260.000/335.000 =   7.761,19 →   7.761
    #   SETUP  200.000 × 260.000/335.000 = 155.223,88 → 155.224   (sum 260.000, no leftover)
    # VAT: KCT 0; 8 % × 155.224 = 12.417,92 → 12.418; 10 % × 7.761 = 776,1 → 776
    # total = 260.000 + 12.418 + 776 = 273.194
    q = prorate_change(
        _catalog(),
        "SVC",
        Configuration("SEATS", "M1", quantity=3),
        Configuration("SEATS", "M1", quantity=5, addon_codes=("BACKUP", "SETUP")),
        period_start=vn(2026, 2, 1),
        period_end=vn(2026, 3, 1),
        at=vn(2026, 2, 15, 14),
    )
    assert (q.days_total, q.days_remaining) == (28, 14)
    assert q.credit_net == 75_000 and q.charge_net == 335_000
    assert q.quote is not None
    assert [(li.code, li.net_amount) for li in q.quote.lines] == [
        ("SEATS", 97_015),
        ("BACKUP", 7_761),
        ("SETUP", 155_224),
    ]
    assert {g.tax: g.vat for g in q.quote.vat_groups} == {
        TaxCategory.KCT: 0,
        TaxCategory.VAT8: 12_418,
        TaxCategory.VAT10: 776,
    }
    assert q.settlement is Settlement.PAY and q.amount == 273_194


def test_a_once_add_on_already_held_is_neither_charged_nor_credited() -> None:
    # 5 seats + SETUP → 5 seats + SETUP + BACKUP on 15 Feb (14 of 28 days):
    # credit 250.000 × 1/2 = 125.000 (SETUP not credited); charge 125.000 + BACKUP 10.000
    # (SETUP not charged again) = 135.000; pay 10.000 net, VAT: KCT gets 0 after the spread,
    # spread: SEATS 125.000 × 10.000/135.000 = 9.259,26 → 9.259; BACKUP 10.000 × 10.000/135.000
    # = 740,74 → 741; VAT 10 % × 741 = 74,1 → 74; total 10.074
    q = prorate_change(
        _catalog(),
        "SVC",
        Configuration("SEATS", "M1", quantity=5, addon_codes=("SETUP",)),
        Configuration("SEATS", "M1", quantity=5, addon_codes=("SETUP", "BACKUP")),
        period_start=vn(2026, 2, 1),
        period_end=vn(2026, 3, 1),
        at=vn(2026, 2, 15),
    )
    assert [line.code for line in q.credit_lines] == ["SEATS"]
    assert [line.code for line in q.charge_lines] == ["SEATS", "BACKUP"]
    assert q.credit_net == 125_000 and q.charge_net == 135_000
    assert q.quote is not None
    assert [(li.code, li.net_amount) for li in q.quote.lines] == [("SEATS", 9_259), ("BACKUP", 741)]
    assert q.amount == 10_074


def test_a_cycle_change_starts_a_new_period_charged_in_full() -> None:
    # BASIC monthly 300.000 → BASIC yearly 3.000.000 on 11 Mar (21 of 31 days):
    # credit 203.226 (as above); charge the whole year 3.000.000 (a new period from 11 Mar)
    # net 3.000.000 − 203.226 = 2.796.774; VAT 10 % = 279.677,4 → 279.677; total 3.076.451
    q = prorate_change(
        _catalog(),
        "SVC",
        Configuration("BASIC", "M1"),
        Configuration("BASIC", "Y1"),
        at=vn(2026, 3, 11, 9),
        **MARCH,
    )
    assert q.new_period
    assert q.credit_net == 203_226 and q.charge_net == 3_000_000
    assert q.settlement is Settlement.PAY and q.amount == 3_076_451


def test_no_change_and_unknown_add_ons_are_refused() -> None:
    with pytest.raises(InvalidInput) as same:
        prorate_change(
            _catalog(),
            "SVC",
            Configuration("BASIC", "M1"),
            Configuration("BASIC", "M1"),
            at=vn(2026, 3, 11),
            **MARCH,
        )
    assert same.value.params["reason"] == "same"
    with pytest.raises(InvalidInput) as not_allowed:
        prorate_change(
            _catalog(),
            "SVC",
            Configuration("BASIC", "M1"),
            Configuration("BASIC", "M1", addon_codes=("BACKUP",)),
            at=vn(2026, 3, 11),
            **MARCH,
        )
    assert not_allowed.value.params["reason"] == "not_allowed"


def test_a_change_on_the_last_moment_credits_and_charges_nothing_but_new_one_offs() -> None:
    # 31 Mar 23:00 in Vietnam: 1 Apr − 31 Mar = 1 day remains (the change day counts):
    # credit 300.000 × 1/31 = 9.677,42 → 9.677; charge 600.000 × 1/31 = 19.354,84 → 19.355
    # net 9.678; VAT 967,8 → 968; total 10.646
    q = prorate_change(
        _catalog(),
        "SVC",
        Configuration("BASIC", "M1"),
        Configuration("PRO", "M1"),
        at=vn(2026, 3, 31, 23),
        **MARCH,
    )
    assert (q.days_remaining, q.credit_net, q.charge_net) == (1, 9_677, 19_355)
    assert q.amount == 10_646
