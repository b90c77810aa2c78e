"""Catalog documents: the contract's sample parses; every problem is reported with its path."""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.catalog_file import load_catalog_file, load_catalog_text, read_catalog_data
from domain.catalog import (
    AddonType,
    DowngradePolicy,
    PeriodUnit,
    PriceTier,
    PricingStrategy,
    PromotionScope,
    ServiceKind,
    TaxCategory,
)
from domain.catalog_parse import parse_catalog
from domain.errors import CatalogInvalid

CONTRACT_SAMPLE_YAML = """\
services:
  - code: SMARTCA            # unique; [A-Z0-9_-]
    name: "VNPT SmartCA"
    kind: ON                 # ON: paid online through VNPT Pay. OS: order service, paid in cash
    description: "Chữ ký số từ xa"
    plans:
      - code: SMARTCA-BASIC  # unique within the service
        name: "Gói Cơ bản"
        tax: "10%"           # KCT | 0% | 5% | 8% | 10%
        pricing: flat        # flat | unit (price × quantity); tier | volume | stairstep optional
        features: ["1 chứng thư số", "Ký không giới hạn"]
        cycles:              # one entry = a 1-cycle plan; several = a multi-cycle plan
          - {code: M12, every: 12, unit: month, price: 1800000}   # unit: day | week | month | year
        addons: [SMARTCA-TSA] # add-on codes that may be ticked with this plan
    addons:
      - code: SMARTCA-TSA
        name: "Dịch vụ cấp dấu thời gian"
        tax: "10%"
        type: periodic       # periodic: price per `unit`, billed for the plan's whole cycle
        unit: month          # (12 × price on a 12-month cycle); once: one-off `price`
        price: 30000
promotions:
  - code: KM-SMARTCA10
    name: "Giảm 10% gói SmartCA"
    scope: plan              # plan | addon | invoice
    percent: 10              # or: amount: 50000
    max_discount: 200000     # optional cap, đồng (percent only)
    applies_to: [SMARTCA-BASIC]  # plan codes (scope plan) or add-on codes (scope addon); omitted = all
    starts: 2026-01-01       # optional; dates in Asia/Ho_Chi_Minh
    ends: 2026-12-31         # optional, inclusive
    min_amount: 0            # optional: minimum line (plan/addon) or subtotal (invoice) in đồng
    quota: 1000              # optional: total uses
    per_customer: 1          # optional: uses per enterprise
"""  # noqa: E501 - the contract's text, verbatim


def contract_sample() -> dict[str, Any]:
    """The contract's sample as plain data (what a JSON loader would give)."""
    return {
        "services": [
            {
                "code": "SMARTCA",
                "name": "VNPT SmartCA",
                "kind": "ON",
                "description": "Chữ ký số từ xa",
                "plans": [
                    {
                        "code": "SMARTCA-BASIC",
                        "name": "Gói Cơ bản",
                        "tax": "10%",
                        "pricing": "flat",
                        "features": ["1 chứng thư số", "Ký không giới hạn"],
                        "cycles": [{"code": "M12", "every": 12, "unit": "month", "price": 1800000}],
                        "addons": ["SMARTCA-TSA"],
                    }
                ],
                "addons": [
                    {
                        "code": "SMARTCA-TSA",
                        "name": "Dịch vụ cấp dấu thời gian",
                        "tax": "10%",
                        "type": "periodic",
                        "unit": "month",
                        "price": 30000,
                    }
                ],
            }
        ],
        "promotions": [
            {
                "code": "KM-SMARTCA10",
                "name": "Giảm 10% gói SmartCA",
                "scope": "plan",
                "percent": 10,
                "max_discount": 200000,
                "applies_to": ["SMARTCA-BASIC"],
                "starts": "2026-01-01",
                "ends": "2026-12-31",
                "min_amount": 0,
                "quota": 1000,
                "per_customer": 1,
            }
        ],
    }


def problems_of(data: object) -> list[tuple[str, str]]:
    with pytest.raises(CatalogInvalid) as excinfo:
        parse_catalog(data)
    return excinfo.value.problems


def paths_of(data: object) -> list[str]:
    return [path for path, _ in problems_of(data)]


# ── the contract's sample ─────────────────────────────────────────────────────────────────────


def test_contract_sample_parses_into_catalog_objects() -> None:
    catalog = parse_catalog(contract_sample())
    service = catalog.service("SMARTCA")
    assert service is not None
    assert service.kind is ServiceKind.ON
    assert service.description == "Chữ ký số từ xa"
    plan = service.plan("SMARTCA-BASIC")
    assert plan is not None
    assert (plan.name, plan.tax, plan.pricing) == (
        "Gói Cơ bản",
        TaxCategory.VAT10,
        PricingStrategy.FLAT,
    )
    assert plan.features == ("1 chứng thư số", "Ký không giới hạn")
    assert plan.addons == ("SMARTCA-TSA",)
    assert not plan.is_multi_cycle
    cycle = plan.cycle("M12")
    assert cycle is not None
    assert (cycle.every, cycle.unit, cycle.price, cycle.tiers) == (
        12,
        PeriodUnit.MONTH,
        1800000,
        (),
    )
    addon = service.addon("SMARTCA-TSA")
    assert addon is not None
    assert (addon.type, addon.unit, addon.price) == (AddonType.PERIODIC, PeriodUnit.MONTH, 30000)
    promotion = catalog.promotion("KM-SMARTCA10")
    assert promotion is not None
    assert promotion.scope is PromotionScope.PLAN
    assert promotion.percent == Decimal(10) and promotion.amount is None
    assert promotion.max_discount == 200000
    assert promotion.applies_to == ("SMARTCA-BASIC",)
    assert (promotion.starts, promotion.ends) == (dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert (promotion.min_amount, promotion.quota, promotion.per_customer) == (0, 1000, 1)


def test_contract_sample_yaml_text_gives_the_same_catalog() -> None:
    assert load_catalog_text(CONTRACT_SAMPLE_YAML) == parse_catalog(contract_sample())


def test_parse_does_not_modify_its_input() -> None:
    data = contract_sample()
    before = copy.deepcopy(data)
    parse_catalog(data)
    assert data == before


# ── the acceptance case: several different problems, each with its exact path ─────────────────


def test_every_problem_is_reported_with_its_exact_path() -> None:
    data = contract_sample()
    service = data["services"][0]
    service["kind"] = "ONLINE"
    plan = service["plans"][0]
    plan["cycles"].append({"code": "M24", "every": 24, "unit": "month", "price": -1})
    plan["addons"] = ["SMARTCA-TSA", "SMARTCA-NOPE"]
    data["services"].append(copy.deepcopy(service) | {"kind": "OS"})
    data["promotions"][0]["ends"] = "2026-13-01"

    assert problems_of(data) == [
        ("services[0].kind", "must be one of ON, OS, not the text 'ONLINE'"),
        (
            "services[0].plans[0].addons[1]",
            "unknown add-on 'SMARTCA-NOPE': not an add-on of this service",
        ),
        ("services[0].plans[0].cycles[1].price", "must be ≥ 0"),
        ("services[1].code", "duplicate service code 'SMARTCA' (first at services[0].code)"),
        (
            "services[1].plans[0].addons[1]",
            "unknown add-on 'SMARTCA-NOPE': not an add-on of this service",
        ),
        ("services[1].plans[0].cycles[1].price", "must be ≥ 0"),
        (
            "services[1].addons[0].code",
            "duplicate add-on code 'SMARTCA-TSA' (first at services[0].addons[0].code)",
        ),
        ("promotions[0].ends", "'2026-13-01' is not a valid date"),
    ]


# ── structure and types ───────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("root", [None, [], "services", 3])
def test_document_must_be_a_mapping(root: object) -> None:
    assert paths_of(root) == ["<root>"]


def test_services_are_required_and_not_empty() -> None:
    assert problems_of({}) == [("services", "required")]
    assert problems_of({"services": []}) == [("services", "must not be empty")]
    assert problems_of({"services": {"code": "X"}}) == [
        ("services", "must be a list, not a mapping")
    ]


def test_unknown_keys_are_reported_everywhere() -> None:
    data = contract_sample()
    data["version"] = 2
    data["services"][0]["colour"] = "blue"
    data["services"][0]["plans"][0]["price"] = 1
    data["services"][0]["plans"][0]["cycles"][0]["months"] = 12
    data["services"][0]["addons"][0]["qty"] = 1
    data["promotions"][0]["active"] = True
    assert problems_of(data) == [
        ("version", "unknown key"),
        ("services[0].colour", "unknown key"),
        ("services[0].plans[0].price", "unknown key"),
        ("services[0].plans[0].cycles[0].months", "unknown key"),
        ("services[0].addons[0].qty", "unknown key"),
        ("promotions[0].active", "unknown key"),
    ]


def test_required_fields() -> None:
    data = contract_sample()
    del data["promotions"]
    for key in ("name", "kind", "plans"):
        del data["services"][0][key]
    assert problems_of(data) == [
        ("services[0].name", "required"),
        ("services[0].kind", "required"),
        ("services[0].plans", "required"),
    ]
    data = contract_sample()
    del data["promotions"]
    plan = data["services"][0]["plans"][0]
    for key in ("code", "tax", "pricing", "cycles"):
        del plan[key]
    assert paths_of(data) == [
        "services[0].plans[0].code",
        "services[0].plans[0].tax",
        "services[0].plans[0].pricing",
        "services[0].plans[0].cycles",
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "must be a whole number, not a boolean"),
        ("1800000", "must be a whole number, not the text '1800000'"),
        (1800000.0, "must be a whole number, not the number 1800000.0"),
        (None, "must be a whole number, not null"),
        (-1, "must be ≥ 0"),
    ],
)
def test_price_must_be_a_non_negative_int(value: object, message: str) -> None:
    data = contract_sample()
    data["services"][0]["plans"][0]["cycles"][0]["price"] = value
    assert problems_of(data) == [("services[0].plans[0].cycles[0].price", message)]


def test_zero_price_is_allowed() -> None:
    data = contract_sample()
    data["services"][0]["plans"][0]["cycles"][0]["price"] = 0
    assert parse_catalog(data).services[0].plans[0].cycles[0].price == 0


@pytest.mark.parametrize("code", ["smartca", "SMART CA", "SMART.CA", "", "Ä", "X" * 65])
def test_code_pattern(code: str) -> None:
    data = contract_sample()
    data["services"][0]["code"] = code
    assert paths_of(data) == ["services[0].code"]


def test_code_must_be_text() -> None:
    data = contract_sample()
    data["services"][0]["plans"][0]["cycles"][0]["code"] = 12
    assert problems_of(data) == [
        ("services[0].plans[0].cycles[0].code", "must be a code (text), not the number 12")
    ]


@pytest.mark.parametrize(
    ("keys", "value", "path"),
    [
        (("plans", 0, "tax"), "7%", "services[0].plans[0].tax"),
        (("plans", 0, "tax"), 10, "services[0].plans[0].tax"),
        (("plans", 0, "pricing"), "FLAT", "services[0].plans[0].pricing"),
        (("plans", 0, "cycles", 0, "unit"), "months", "services[0].plans[0].cycles[0].unit"),
        (("addons", 0, "type"), "monthly", "services[0].addons[0].type"),
        (("addons", 0, "unit"), "hour", "services[0].addons[0].unit"),
        (("kind",), True, "services[0].kind"),
        (("kind",), "on", "services[0].kind"),
    ],
)
def test_enumerations(keys: tuple[str | int, ...], value: object, path: str) -> None:
    data = contract_sample()
    node: Any = data["services"][0]
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    problems = problems_of(data)
    assert [p for p, _ in problems] == [path]
    assert problems[0][1].startswith("must be one of ")


def test_all_tax_categories_and_units_are_accepted() -> None:
    data = contract_sample()
    plan = data["services"][0]["plans"][0]
    plan["cycles"] = [
        {"code": f"C{i}", "every": 1, "unit": unit, "price": 1}
        for i, unit in enumerate(["day", "week", "month", "year"])
    ]
    for tax in ["KCT", "0%", "5%", "8%", "10%"]:
        plan["tax"] = tax
        parsed = parse_catalog(data).services[0].plans[0]
        assert parsed.tax.value == tax
        assert [c.unit.value for c in parsed.cycles] == ["day", "week", "month", "year"]


def test_every_must_be_at_least_one() -> None:
    data = contract_sample()
    data["services"][0]["plans"][0]["cycles"][0]["every"] = 0
    assert problems_of(data) == [("services[0].plans[0].cycles[0].every", "must be ≥ 1")]


def test_optional_plan_fields() -> None:
    data = contract_sample()
    plan = data["services"][0]["plans"][0]
    plan["setup_fee"] = 500000
    plan["description"] = "  Gói dành cho doanh nghiệp nhỏ "
    parsed = parse_catalog(data).services[0].plans[0]
    assert (parsed.setup_fee, parsed.description) == (500000, "Gói dành cho doanh nghiệp nhỏ")
    plan["setup_fee"] = -5
    plan["features"] = ["ok", 3, ""]
    assert paths_of(data) == [
        "services[0].plans[0].setup_fee",
        "services[0].plans[0].features[1]",
        "services[0].plans[0].features[2]",
    ]


def test_name_must_be_non_empty_text() -> None:
    data = contract_sample()
    data["services"][0]["name"] = "  "
    data["services"][0]["plans"][0]["name"] = 5
    assert problems_of(data) == [
        ("services[0].name", "must not be empty"),
        ("services[0].plans[0].name", "must be text, not the number 5"),
    ]


# ── uniqueness ────────────────────────────────────────────────────────────────────────────────


def test_plan_codes_unique_within_a_service_but_free_across_services() -> None:
    data = contract_sample()
    service = data["services"][0]
    service["plans"].append(copy.deepcopy(service["plans"][0]))
    assert problems_of(data) == [
        (
            "services[0].plans[1].code",
            "duplicate plan code 'SMARTCA-BASIC' (first at services[0].plans[0].code)",
        )
    ]
    data = contract_sample()
    other = copy.deepcopy(data["services"][0])
    other["code"] = "OTHER"
    other["addons"][0]["code"] = "OTHER-TSA"
    other["plans"][0]["addons"] = ["OTHER-TSA"]
    data["services"].append(other)
    catalog = parse_catalog(data)
    assert [s.plans[0].code for s in catalog.services] == ["SMARTCA-BASIC", "SMARTCA-BASIC"]


def test_cycle_and_promotion_codes_are_unique() -> None:
    data = contract_sample()
    data["services"][0]["plans"][0]["cycles"].append(
        {"code": "M12", "every": 1, "unit": "year", "price": 1}
    )
    data["promotions"].append(copy.deepcopy(data["promotions"][0]))
    assert paths_of(data) == [
        "services[0].plans[0].cycles[1].code",
        "promotions[1].code",
    ]


def test_plan_may_not_list_an_addon_twice_or_one_of_another_service() -> None:
    data = contract_sample()
    other = copy.deepcopy(data["services"][0])
    other["code"] = "OTHER"
    other["addons"][0]["code"] = "OTHER-TSA"
    other["plans"][0]["addons"] = ["SMARTCA-TSA"]
    data["services"].append(other)
    data["services"][0]["plans"][0]["addons"] = ["SMARTCA-TSA", "SMARTCA-TSA"]
    assert problems_of(data) == [
        ("services[0].plans[0].addons[1]", "add-on 'SMARTCA-TSA' is listed twice"),
        (
            "services[1].plans[0].addons[0]",
            "unknown add-on 'SMARTCA-TSA': not an add-on of this service",
        ),
    ]


def test_an_addon_with_its_own_problem_does_not_cascade() -> None:
    data = contract_sample()
    data["services"][0]["addons"][0]["price"] = "30000"
    assert paths_of(data) == ["services[0].addons[0].price"]


# ── tier strategies ───────────────────────────────────────────────────────────────────────────


def tiered(pricing: str, tiers: object) -> dict[str, Any]:
    data = contract_sample()
    plan = data["services"][0]["plans"][0]
    plan["pricing"] = pricing
    plan["cycles"] = [{"code": "Y1", "every": 1, "unit": "year", "tiers": tiers}]
    return data


@pytest.mark.parametrize("pricing", ["tier", "volume", "stairstep"])
def test_tier_tables_parse(pricing: str) -> None:
    tiers = [{"up_to": 10, "price": 100}, {"up_to": 50, "price": 80}, {"up_to": None, "price": 60}]
    cycle = parse_catalog(tiered(pricing, tiers)).services[0].plans[0].cycles[0]
    assert cycle.tiers == (PriceTier(10, 100), PriceTier(50, 80), PriceTier(None, 60))
    assert cycle.price == 0


def test_tier_table_problems() -> None:
    tiers = [
        {"up_to": 10, "price": 100},
        {"up_to": 10, "price": 80},
        {"up_to": None, "price": 70},
        {"up_to": 0, "price": -1},
        {"price": 5},
    ]
    at = "services[0].plans[0].cycles[0].tiers"
    assert problems_of(tiered("tier", tiers)) == [
        (f"{at}[1].up_to", "must be greater than the previous up_to (10)"),
        (f"{at}[2].up_to", "only the last tier may have up_to: null"),
        (f"{at}[3].price", "must be ≥ 0"),
        (f"{at}[3].up_to", "must be ≥ 1"),
        (f"{at}[4].up_to", "required (null for the last tier)"),
    ]


def test_last_tier_must_be_open_and_tiers_required() -> None:
    at = "services[0].plans[0].cycles[0]"
    assert problems_of(tiered("volume", [{"up_to": 10, "price": 1}])) == [
        (f"{at}.tiers[0].up_to", "the last tier must have up_to: null (no limit)")
    ]
    assert paths_of(tiered("volume", [])) == [f"{at}.tiers"]
    data = tiered("volume", [])
    del data["services"][0]["plans"][0]["cycles"][0]["tiers"]
    assert problems_of(data) == [(f"{at}.tiers", "required with pricing volume")]


def test_price_and_tiers_belong_to_their_strategies() -> None:
    data = tiered("tier", [{"up_to": None, "price": 1}])
    data["services"][0]["plans"][0]["cycles"][0]["price"] = 5
    assert paths_of(data) == ["services[0].plans[0].cycles[0].price"]
    data = contract_sample()
    data["services"][0]["plans"][0]["cycles"][0]["tiers"] = [{"up_to": None, "price": 1}]
    assert paths_of(data) == ["services[0].plans[0].cycles[0].tiers"]


def test_unit_pricing_uses_price() -> None:
    data = contract_sample()
    data["services"][0]["plans"][0]["pricing"] = "unit"
    plan = parse_catalog(data).services[0].plans[0]
    assert plan.pricing is PricingStrategy.UNIT and plan.cycles[0].price == 1800000


# ── add-ons ───────────────────────────────────────────────────────────────────────────────────


def test_periodic_addon_needs_unit_and_once_addon_takes_none() -> None:
    data = contract_sample()
    del data["services"][0]["addons"][0]["unit"]
    assert problems_of(data) == [("services[0].addons[0].unit", "required")]
    data = contract_sample()
    data["services"][0]["addons"][0]["type"] = "once"
    assert problems_of(data) == [("services[0].addons[0].unit", "only used with type periodic")]
    del data["services"][0]["addons"][0]["unit"]
    addon = parse_catalog(data).services[0].addons[0]
    assert (addon.type, addon.unit) == (AddonType.ONCE, None)


# ── promotions ────────────────────────────────────────────────────────────────────────────────


def promo(**changes: object) -> dict[str, Any]:
    data = contract_sample()
    entry = data["promotions"][0]
    for key, value in changes.items():
        if value is ...:
            entry.pop(key, None)
        else:
            entry[key] = value
    return data


def test_percent_may_be_decimal() -> None:
    assert parse_catalog(promo(percent=12.5)).promotions[0].percent == Decimal("12.5")
    assert parse_catalog(promo(percent=100)).promotions[0].percent == Decimal(100)
    assert parse_catalog(promo(percent=Decimal("0.5"))).promotions[0].percent == Decimal("0.5")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "must be > 0 and ≤ 100"),
        (100.01, "must be > 0 and ≤ 100"),
        (-5, "must be > 0 and ≤ 100"),
        ("10", "must be a number, not the text '10'"),
        (True, "must be a number, not a boolean"),
        (float("nan"), "must be > 0 and ≤ 100"),
    ],
)
def test_bad_percent(value: object, message: str) -> None:
    assert problems_of(promo(percent=value)) == [("promotions[0].percent", message)]


def test_exactly_one_of_percent_and_amount() -> None:
    assert problems_of(promo(amount=50000)) == [
        ("promotions[0]", "give either percent or amount, not both")
    ]
    assert problems_of(promo(percent=..., max_discount=...)) == [
        ("promotions[0]", "needs percent or amount")
    ]
    fixed = parse_catalog(promo(percent=..., max_discount=..., amount=50000)).promotions[0]
    assert (fixed.percent, fixed.amount, fixed.max_discount) == (None, 50000, None)


def test_amount_and_max_discount_rules() -> None:
    assert problems_of(promo(percent=..., max_discount=..., amount=0)) == [
        ("promotions[0].amount", "must be ≥ 1")
    ]
    assert problems_of(promo(percent=..., amount=50000)) == [
        ("promotions[0].max_discount", "only used with percent")
    ]
    assert paths_of(promo(max_discount="200000")) == ["promotions[0].max_discount"]


def test_applies_to_must_name_codes_of_its_scope() -> None:
    assert problems_of(promo(applies_to=["SMARTCA-TSA"])) == [
        (
            "promotions[0].applies_to[0]",
            "unknown plan 'SMARTCA-TSA': no plan in this file has that code",
        )
    ]
    addon_promo = parse_catalog(promo(scope="addon", applies_to=["SMARTCA-TSA"])).promotions[0]
    assert addon_promo.applies_to == ("SMARTCA-TSA",)
    assert problems_of(promo(scope="addon")) == [
        (
            "promotions[0].applies_to[0]",
            "unknown add-on 'SMARTCA-BASIC': no add-on in this file has that code",
        )
    ]
    assert problems_of(promo(scope="invoice")) == [
        (
            "promotions[0].applies_to",
            "not used with scope invoice (it applies to the whole invoice)",
        )
    ]
    assert paths_of(promo(applies_to=[])) == ["promotions[0].applies_to"]
    assert paths_of(promo(applies_to="SMARTCA-BASIC")) == ["promotions[0].applies_to"]
    assert parse_catalog(promo(applies_to=...)).promotions[0].applies_to is None
    assert parse_catalog(promo(scope="invoice", applies_to=...)).promotions[0].applies_to is None


def test_dates() -> None:
    parsed = parse_catalog(promo(starts=dt.date(2026, 2, 1), ends="2026-02-01")).promotions[0]
    assert parsed.starts == parsed.ends == dt.date(2026, 2, 1)
    assert problems_of(promo(starts="2026-03-01", ends="2026-02-28")) == [
        ("promotions[0].ends", "must not be before starts (2026-03-01)")
    ]
    assert problems_of(promo(starts="01/03/2026")) == [
        ("promotions[0].starts", "must be a date (YYYY-MM-DD), not the text '01/03/2026'")
    ]
    assert problems_of(promo(ends="2026-02-30")) == [
        ("promotions[0].ends", "'2026-02-30' is not a valid date")
    ]
    assert problems_of(promo(starts=dt.datetime(2026, 1, 1, 8, 0))) == [
        ("promotions[0].starts", "must be a date (YYYY-MM-DD) without a time")
    ]
    assert paths_of(promo(ends=20261231)) == ["promotions[0].ends"]
    open_ended = parse_catalog(promo(starts=..., ends=...)).promotions[0]
    assert (open_ended.starts, open_ended.ends) == (None, None)


def test_limits_are_non_negative_ints() -> None:
    assert paths_of(promo(min_amount=-1, quota=-1, per_customer=True)) == [
        "promotions[0].min_amount",
        "promotions[0].quota",
        "promotions[0].per_customer",
    ]
    parsed = parse_catalog(promo(min_amount=..., quota=..., per_customer=...)).promotions[0]
    assert (parsed.min_amount, parsed.quota, parsed.per_customer) == (0, None, None)
    zero = parse_catalog(promo(quota=0, per_customer=0)).promotions[0]
    assert (zero.quota, zero.per_customer) == (0, 0)


def test_bad_scope_is_reported_once() -> None:
    assert problems_of(promo(scope="order")) == [
        ("promotions[0].scope", "must be one of plan, addon, invoice, not the text 'order'")
    ]


# ── files: YAML 1.2 and JSON through bot.catalog_file ─────────────────────────────────────────


def test_unquoted_on_stays_the_string_on(tmp_path: Path) -> None:
    assert "kind: ON " in CONTRACT_SAMPLE_YAML
    text = CONTRACT_SAMPLE_YAML + "  - {code: KM-NO, name: No, scope: invoice, amount: 1}\n"
    data = read_catalog_data(text)
    assert isinstance(data, dict)
    assert data["services"][0]["kind"] == "ON"
    assert data["promotions"][1]["name"] == "No"
    file = tmp_path / "catalog.yaml"
    file.write_text(text, "utf-8")
    service = load_catalog_file(file).service("SMARTCA")
    assert service is not None and service.kind is ServiceKind.ON
    file.write_text(text.replace("kind: ON", "kind: OS"), "utf-8")
    os_service = load_catalog_file(file).service("SMARTCA")
    assert os_service is not None and os_service.kind is ServiceKind.OS


def test_yaml_dates_and_strings_both_work(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text(CONTRACT_SAMPLE_YAML.replace("ends: 2026-12-31", "ends: '2026-12-31'"), "utf-8")
    promotion = load_catalog_file(file).promotion("KM-SMARTCA10")
    assert promotion is not None
    assert (promotion.starts, promotion.ends) == (dt.date(2026, 1, 1), dt.date(2026, 12, 31))


def test_json_file(tmp_path: Path) -> None:
    file = tmp_path / "catalog.json"
    file.write_text(json.dumps(contract_sample(), ensure_ascii=False), "utf-8")
    assert load_catalog_file(file) == parse_catalog(contract_sample())


def test_content_problems_from_a_file_keep_their_paths(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(CONTRACT_SAMPLE_YAML.replace("price: 30000", "price: -30000"), "utf-8")
    with pytest.raises(CatalogInvalid) as excinfo:
        load_catalog_file(file)
    assert excinfo.value.problems == [("services[0].addons[0].price", "must be ≥ 0")]
    assert str(excinfo.value) == "services[0].addons[0].price: must be ≥ 0"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.yaml", None, "cannot read"),
        ("empty.yaml", "", "the file is empty"),
        ("comments.yaml", "# nothing here\n", "the file is empty"),
        ("syntax.yaml", "services:\n  - code: [A,\n    name: x\n", "invalid YAML at line"),
        ("dup.yaml", "services: []\nservices: []\n", "invalid YAML at line 2"),
        ("two.yaml", "a: 1\n---\nb: 2\n", "invalid YAML"),
        ("syntax.json", '{"services": [1,}', "invalid JSON at line 1"),
        ("dup.json", '{"services": [], "services": []}', "duplicate key 'services'"),
    ],
)
def test_unreadable_files_give_one_path_free_problem(
    tmp_path: Path, name: str, content: str | None, expected: str
) -> None:
    file = tmp_path / name
    if content is not None:
        file.write_text(content, "utf-8")
    with pytest.raises(CatalogInvalid) as excinfo:
        load_catalog_file(file)
    assert len(excinfo.value.problems) == 1
    path, message = excinfo.value.problems[0]
    assert path == "<file>"
    assert expected in message


def test_non_utf8_file(tmp_path: Path) -> None:
    file = tmp_path / "latin1.yaml"
    file.write_bytes("services: []\nname: Gói\n".encode("cp1258"))
    with pytest.raises(CatalogInvalid) as excinfo:
        load_catalog_file(file)
    assert excinfo.value.problems[0][0] == "<file>"
    assert "not UTF-8" in excinfo.value.problems[0][1]


def test_yaml_error_reports_the_line(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text("services:\n  - code: A\n    name: [unclosed\n  - code: B\n", "utf-8")
    with pytest.raises(CatalogInvalid) as excinfo:
        load_catalog_file(file)
    message = excinfo.value.problems[0][1]
    assert message.startswith("invalid YAML at line ")
    line = int(message.split("line ")[1].split(",")[0])
    assert 3 <= line <= 4


def test_an_impossible_unquoted_yaml_date_is_a_file_problem_not_a_crash() -> None:
    text = (
        "services: []\npromotions:\n"
        "  - {code: X, name: x, scope: invoice, amount: 1, starts: 2026-02-30}\n"
    )
    with pytest.raises(CatalogInvalid) as info:
        load_catalog_text(text)
    [(path, message)] = info.value.problems
    assert path == "<file>" and "day is out of range" in message


def test_trial_days_and_downgrade_are_optional_and_validated() -> None:
    data = contract_sample()
    plan = data["services"][0]["plans"][0]
    parsed = parse_catalog(data).services[0].plans[0]
    assert (parsed.trial_days, parsed.downgrade) == (0, DowngradePolicy.IMMEDIATELY)
    plan["trial_days"] = 14
    plan["downgrade"] = "at_period_end"
    parsed = parse_catalog(data).services[0].plans[0]
    assert (parsed.trial_days, parsed.downgrade) == (14, DowngradePolicy.AT_PERIOD_END)
    plan["trial_days"] = 366
    plan["downgrade"] = "later"
    assert paths_of(data) == [
        "services[0].plans[0].trial_days",
        "services[0].plans[0].downgrade",
    ]
    plan["trial_days"] = -1
    plan["downgrade"] = "immediately"
    assert paths_of(data) == ["services[0].plans[0].trial_days"]
