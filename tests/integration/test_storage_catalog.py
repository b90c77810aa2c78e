"""The catalog repository on SQLite and PostgreSQL: replace is an idempotent upsert that hides
removed codes (never deletes them); load returns everything; the revision moves on change only."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import text

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
from storage.db import Database, SqlUnitOfWork

CATALOG_TABLES = (
    "catalog_services",
    "catalog_plans",
    "catalog_cycles",
    "catalog_addons",
    "catalog_promotions",
)


def sample_catalog() -> Catalog:
    basic = Plan(
        code="SMARTCA-BASIC",
        name="Gói Cơ bản",
        tax=TaxCategory.VAT10,
        pricing=PricingStrategy.FLAT,
        cycles=(BillingCycle(code="M12", every=12, unit=PeriodUnit.MONTH, price=1_800_000),),
        features=("1 chứng thư số", "Ký không giới hạn"),
        addons=("SMARTCA-TSA",),
    )
    pro = Plan(
        code="SMARTCA-PRO",
        name="Gói Chuyên nghiệp",
        tax=TaxCategory.VAT8,
        pricing=PricingStrategy.TIER,
        cycles=(
            BillingCycle(
                code="M1",
                every=1,
                unit=PeriodUnit.MONTH,
                price=0,
                tiers=(PriceTier(up_to=10, price=50_000), PriceTier(up_to=None, price=40_000)),
            ),
            BillingCycle(code="Y1", every=1, unit=PeriodUnit.YEAR, price=5_000_000),
        ),
        setup_fee=200_000,
        description="Nhiều người dùng",
    )
    smartca = Service(
        code="SMARTCA",
        name="VNPT SmartCA",
        kind=ServiceKind.ON,
        description="Chữ ký số từ xa",
        plans=(basic, pro),
        addons=(
            Addon(
                code="SMARTCA-TSA",
                name="Dịch vụ cấp dấu thời gian",
                tax=TaxCategory.VAT10,
                type=AddonType.PERIODIC,
                unit=PeriodUnit.MONTH,
                price=30_000,
            ),
            Addon(
                code="SMARTCA-SETUP",
                name="Cài đặt tại chỗ",
                tax=TaxCategory.KCT,
                type=AddonType.ONCE,
                price=500_000,
            ),
        ),
    )
    install = Service(
        code="LAPDAT",
        name="Lắp đặt mạng",
        kind=ServiceKind.OS,
        plans=(
            Plan(
                code="LAPDAT-1",
                name="Gói lắp đặt",
                tax=TaxCategory.KCT,
                pricing=PricingStrategy.UNIT,
                cycles=(BillingCycle(code="D7", every=7, unit=PeriodUnit.DAY, price=150_000),),
            ),
        ),
    )
    promotions = (
        Promotion(
            code="KM-SMARTCA10",
            name="Giảm 10% gói SmartCA",
            scope=PromotionScope.PLAN,
            percent=Decimal("10"),
            max_discount=200_000,
            applies_to=("SMARTCA-BASIC",),
            starts=date(2026, 1, 1),
            ends=date(2026, 12, 31),
            quota=1000,
            per_customer=1,
        ),
        Promotion(
            code="KM-HD50K",
            name="Giảm 50.000 ₫ hóa đơn",
            scope=PromotionScope.INVOICE,
            amount=50_000,
            min_amount=500_000,
        ),
        Promotion(
            code="KM-TSA",
            name="Giảm 12,5% dấu thời gian",
            scope=PromotionScope.ADDON,
            percent=Decimal("12.5"),
        ),
    )
    return Catalog(services=(smartca, install), promotions=promotions)


async def dump(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the catalog tables, for comparing before and after."""
    result: dict[str, list[tuple[Any, ...]]] = {}
    async with database.engine.connect() as connection:
        for table in CATALOG_TABLES:
            rows = await connection.execute(text(f"SELECT * FROM {table}"))
            result[table] = sorted((tuple(r) for r in rows), key=repr)
    return result


async def replace_catalog(uow: SqlUnitOfWork, catalog: Catalog) -> bool:
    async with uow:
        changed = await uow.catalog.replace(catalog)
        await uow.commit()
    return changed


async def load(uow: SqlUnitOfWork) -> tuple[Catalog, int]:
    async with uow:
        return await uow.catalog.load(), await uow.catalog.revision()


async def test_an_empty_database_has_an_empty_catalog_at_revision_zero(uow: SqlUnitOfWork) -> None:
    assert await load(uow) == (Catalog(), 0)


async def test_replace_then_load_round_trips_every_field(uow: SqlUnitOfWork) -> None:
    catalog = sample_catalog()
    assert await replace_catalog(uow, catalog) is True
    loaded, revision = await load(uow)
    assert loaded == catalog
    assert revision == 1
    promotion = loaded.promotion("KM-TSA")
    assert promotion is not None and promotion.percent == Decimal("12.5")


async def test_replacing_with_the_same_catalog_changes_nothing(
    database: Database, uow: SqlUnitOfWork
) -> None:
    await replace_catalog(uow, sample_catalog())
    before = await dump(database)
    assert await replace_catalog(uow, sample_catalog()) is False
    assert await dump(database) == before
    assert (await load(uow))[1] == 1

    same_value = replace(
        sample_catalog(),
        promotions=tuple(
            replace(p, percent=Decimal("10.00")) if p.code == "KM-SMARTCA10" else p
            for p in sample_catalog().promotions
        ),
    )
    assert await replace_catalog(uow, same_value) is False  # 10.00 % is 10 %
    assert await dump(database) == before


async def test_a_changed_price_is_stored_and_moves_the_revision(uow: SqlUnitOfWork) -> None:
    catalog = sample_catalog()
    await replace_catalog(uow, catalog)
    smartca, install = catalog.services
    cheaper = replace(
        smartca,
        plans=(
            replace(
                smartca.plans[0],
                cycles=(replace(smartca.plans[0].cycles[0], price=1_500_000),),
            ),
            smartca.plans[1],
        ),
    )
    changed = replace(catalog, services=(cheaper, install))
    assert await replace_catalog(uow, changed) is True
    loaded, revision = await load(uow)
    assert loaded == changed
    assert revision == 2


async def test_removed_codes_are_hidden_not_deleted(database: Database, uow: SqlUnitOfWork) -> None:
    catalog = sample_catalog()
    await replace_catalog(uow, catalog)
    smartca, install = catalog.services
    basic, pro = smartca.plans
    trimmed = Catalog(
        services=(
            replace(
                smartca,
                plans=(replace(pro, cycles=pro.cycles[1:]),),  # BASIC gone, PRO loses M1
                addons=smartca.addons[:1],  # SMARTCA-SETUP gone
            ),
        ),  # LAPDAT gone
        promotions=catalog.promotions[1:],  # KM-SMARTCA10 gone
    )
    counts_before = {t: len(rows) for t, rows in (await dump(database)).items()}
    assert await replace_catalog(uow, trimmed) is True
    counts_after = {t: len(rows) for t, rows in (await dump(database)).items()}
    assert counts_after == counts_before  # nothing deleted

    loaded, revision = await load(uow)
    assert revision == 2
    assert [s.code for s in loaded.active_services()] == ["SMARTCA"]
    service = loaded.service("SMARTCA")
    assert service is not None
    old_basic = service.plan("SMARTCA-BASIC")
    assert old_basic == replace(basic, active=False)  # still readable, with its cycles
    new_pro = service.plan("SMARTCA-PRO")
    assert new_pro is not None and new_pro.active
    assert [c.code for c in new_pro.cycles] == ["Y1"]
    setup = service.addon("SMARTCA-SETUP")
    assert setup is not None and not setup.active
    gone_service = loaded.service("LAPDAT")
    assert gone_service is not None and not gone_service.active
    assert all(not p.active for p in gone_service.plans)
    assert gone_service.plans[0].cycles == install.plans[0].cycles
    gone_promotion = loaded.promotion("KM-SMARTCA10")
    assert gone_promotion is not None and not gone_promotion.active
    assert [p.code for p in loaded.active_promotions()] == ["KM-HD50K", "KM-TSA"]

    assert await replace_catalog(uow, trimmed) is False  # idempotent after a removal too
    assert await replace_catalog(uow, catalog) is True  # everything comes back
    restored, revision = await load(uow)
    assert restored == catalog
    assert revision == 3


async def test_concurrent_replaces_are_serialised(uow: SqlUnitOfWork) -> None:
    results = await asyncio.gather(*(replace_catalog(uow, sample_catalog()) for _ in range(3)))
    assert sorted(results) == [False, False, True]
    loaded, revision = await load(uow)
    assert loaded == sample_catalog()
    assert revision == 1


async def test_a_coupon_code_round_trips_and_a_new_one_moves_the_revision(
    uow: SqlUnitOfWork,
) -> None:
    base = sample_catalog()
    coupon = Promotion(
        code="KM-TET",
        name="Mã TET2027",
        scope=PromotionScope.PLAN,
        percent=Decimal("15"),
        coupon_code="TET2027",
    )
    with_code = Catalog(services=base.services, promotions=(*base.promotions, coupon))
    await replace_catalog(uow, with_code)
    loaded, revision = await load(uow)
    assert loaded == with_code and revision == 1
    assert loaded.coupon("tet2027") == coupon
    assert loaded.promotion("KM-SMARTCA10") is not None
    assert loaded.promotion("KM-SMARTCA10").coupon_code is None  # type: ignore[union-attr]

    renamed = Catalog(
        services=base.services,
        promotions=(*base.promotions, replace(coupon, coupon_code="TET2028")),
    )
    assert await replace_catalog(uow, renamed) is True
    loaded, revision = await load(uow)
    assert revision == 2 and loaded.coupon("TET2027") is None
    assert loaded.coupon("tet2028") is not None
