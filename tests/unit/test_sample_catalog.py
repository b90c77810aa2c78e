"""The shipped catalog.sample.yaml parses and covers every feature the flows need."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from bot.catalog_file import load_catalog_file
from domain.catalog import (
    AddonType,
    Catalog,
    PricingStrategy,
    PromotionScope,
    ServiceKind,
    TaxCategory,
)

SAMPLE = Path(__file__).resolve().parents[2] / "catalog.sample.yaml"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog_file(SAMPLE)


def test_kind_is_written_unquoted_as_operators_do() -> None:
    text = SAMPLE.read_text("utf-8")
    assert "kind: ON\n" in text and "kind: OS\n" in text
    raw = YAML(typ="safe", pure=True).load(text)
    assert {s["kind"] for s in raw["services"]} == {"ON", "OS"}


def test_on_and_os_services(catalog: Catalog) -> None:
    kinds = [s.kind for s in catalog.services]
    assert kinds.count(ServiceKind.ON) >= 3
    assert kinds.count(ServiceKind.OS) >= 2


def test_one_cycle_and_multi_cycle_plans_of_both_kinds(catalog: Catalog) -> None:
    for kind in ServiceKind:
        plans = [p for s in catalog.services if s.kind is kind for p in s.plans]
        assert any(p.is_multi_cycle for p in plans), kind
        assert any(not p.is_multi_cycle for p in plans), kind
    cycles = {(c.every, c.unit.value) for s in catalog.services for p in s.plans for c in p.cycles}
    assert {(1, "month"), (6, "month"), (12, "month"), (1, "year")} <= cycles


def test_pricing_strategies(catalog: Catalog) -> None:
    plans = [p for s in catalog.services for p in s.plans]
    strategies = {p.pricing for p in plans}
    assert {PricingStrategy.FLAT, PricingStrategy.UNIT} <= strategies
    assert strategies & {PricingStrategy.TIER, PricingStrategy.VOLUME, PricingStrategy.STAIRSTEP}
    for plan in plans:
        for cycle in plan.cycles:
            if plan.pricing.uses_quantity and plan.pricing is not PricingStrategy.UNIT:
                assert cycle.tiers and cycle.tiers[-1].up_to is None
            else:
                assert cycle.price > 0 and not cycle.tiers


def test_every_on_service_has_two_addons_allowed_on_its_plans(catalog: Catalog) -> None:
    for service in catalog.services:
        if service.kind is ServiceKind.ON:
            assert len(service.addons) >= 2, service.code
            for plan in service.plans:
                assert len(plan.addons) >= 2, plan.code
    types = {a.type for s in catalog.services for a in s.addons}
    assert types == {AddonType.ONCE, AddonType.PERIODIC}


def test_mixed_tax_rates(catalog: Catalog) -> None:
    taxes = {p.tax for s in catalog.services for p in s.plans}
    taxes |= {a.tax for s in catalog.services for a in s.addons}
    assert {TaxCategory.VAT10, TaxCategory.VAT8, TaxCategory.KCT} <= taxes


def test_an_os_order_above_the_cash_threshold_exists(catalog: Catalog) -> None:
    prices = [
        c.price
        for s in catalog.services
        if s.kind is ServiceKind.OS
        for p in s.plans
        for c in p.cycles
    ]
    assert max(prices) >= 5_000_000
    assert min(prices) < 5_000_000


def test_promotions_cover_every_scope_and_kind(catalog: Catalog) -> None:
    promotions = catalog.promotions
    assert {p.scope for p in promotions} == set(PromotionScope)
    assert any(p.percent is not None and p.max_discount is not None for p in promotions)
    assert any(p.amount is not None for p in promotions)
    assert any(p.per_customer == 1 for p in promotions)
    assert any(p.quota is not None and p.quota <= 5 for p in promotions)
    assert any(p.applies_to is None and p.scope is not PromotionScope.INVOICE for p in promotions)


def test_one_expired_promotion_and_the_rest_usable_until_2027(catalog: Catalog) -> None:
    expired = [p for p in catalog.promotions if p.ends is not None and p.ends < dt.date(2026, 1, 1)]
    assert [p.ends for p in expired] == [dt.date(2025, 12, 31)]
    for promotion in catalog.promotions:
        if promotion not in expired:
            assert promotion.ends == dt.date(2027, 12, 31), promotion.code
            assert promotion.starts is None or promotion.starts <= dt.date(2026, 1, 1)


def test_names_are_vietnamese(catalog: Catalog) -> None:
    names = [s.name for s in catalog.services] + [p.name for s in catalog.services for p in s.plans]
    assert any("Gói" in name for name in names)
    assert all(s.description for s in catalog.services)


def test_sample_shows_a_trial_and_a_downgrade_at_period_end() -> None:
    from domain.catalog import DowngradePolicy

    catalog = load_catalog_file(SAMPLE)
    plans = [p for s in catalog.services for p in s.plans]
    assert any(p.trial_days > 0 for p in plans)
    assert any(p.downgrade is DowngradePolicy.AT_PERIOD_END for p in plans)
