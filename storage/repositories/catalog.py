"""The catalog: replaced as a whole from a catalog file, read as a whole into memory.

Rows are never deleted. ``active`` means "present in the last loaded file"; a removed service
takes its plans and add-ons with it. A cycle's ``active`` tracks its plan's last definition: when
a whole plan is removed its cycles are left as they were, so the inactive plan still reads with
the cycles it last had (``BillingCycle`` has no flag of its own).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update

from domain.catalog import (
    Addon,
    AddonType,
    BillingCycle,
    Catalog,
    DowngradePolicy,
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
from domain.model import CATALOG_REVISION_COUNTER
from storage.models import AddonRow, CounterRow, CycleRow, PlanRow, PromotionRow, ServiceRow
from storage.repositories._common import SqlRepository, rowcount


def _service_values(service: Service, position: int) -> dict[str, Any]:
    return {
        "name": service.name,
        "kind": service.kind.value,
        "description": service.description,
        "active": service.active,
        "position": position,
    }


def _plan_values(plan: Plan, position: int) -> dict[str, Any]:
    return {
        "name": plan.name,
        "tax": plan.tax.value,
        "pricing": plan.pricing.value,
        "features": list(plan.features),
        "addons": list(plan.addons),
        "setup_fee": plan.setup_fee,
        "description": plan.description,
        "trial_days": plan.trial_days,
        "downgrade": plan.downgrade.value,
        "active": plan.active,
        "position": position,
    }


def _cycle_values(cycle: BillingCycle, position: int) -> dict[str, Any]:
    return {
        "every": cycle.every,
        "unit": cycle.unit.value,
        "price": cycle.price,
        "tiers": [{"up_to": t.up_to, "price": t.price} for t in cycle.tiers],
        "active": True,
        "position": position,
    }


def _addon_values(addon: Addon, position: int) -> dict[str, Any]:
    return {
        "name": addon.name,
        "tax": addon.tax.value,
        "type": addon.type.value,
        "price": addon.price,
        "unit": addon.unit.value if addon.unit is not None else None,
        "description": addon.description,
        "active": addon.active,
        "position": position,
    }


def _promotion_values(promotion: Promotion, position: int) -> dict[str, Any]:
    return {
        "name": promotion.name,
        "scope": promotion.scope.value,
        "percent": str(promotion.percent) if promotion.percent is not None else None,
        "amount": promotion.amount,
        "max_discount": promotion.max_discount,
        "applies_to": list(promotion.applies_to) if promotion.applies_to is not None else None,
        "starts": promotion.starts,
        "ends": promotion.ends,
        "min_amount": promotion.min_amount,
        "quota": promotion.quota,
        "per_customer": promotion.per_customer,
        "active": promotion.active,
        "coupon_code": promotion.coupon_code,
        "position": position,
    }


def _same(column: str, stored: Any, wanted: Any) -> bool:
    if column == "percent" and stored is not None and wanted is not None:
        return bool(Decimal(stored) == Decimal(wanted))
    return bool(stored == wanted)


def _differences(row: Any, wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The columns of ``row`` whose stored value differs from ``wanted``."""
    return {k: v for k, v in wanted.items() if not _same(k, getattr(row, k), v)}


def _to_cycle(row: Any) -> BillingCycle:
    return BillingCycle(
        code=row.code,
        every=row.every,
        unit=PeriodUnit(row.unit),
        price=row.price,
        tiers=tuple(PriceTier(up_to=t["up_to"], price=t["price"]) for t in row.tiers or ()),
    )


def _to_plan(row: Any, cycles: Iterable[Any]) -> Plan:
    return Plan(
        code=row.code,
        name=row.name,
        tax=TaxCategory(row.tax),
        pricing=PricingStrategy(row.pricing),
        cycles=tuple(_to_cycle(c) for c in cycles),
        features=tuple(row.features or ()),
        addons=tuple(row.addons or ()),
        setup_fee=row.setup_fee,
        description=row.description,
        active=bool(row.active),
        trial_days=row.trial_days or 0,
        downgrade=DowngradePolicy(row.downgrade or DowngradePolicy.IMMEDIATELY.value),
    )


def _to_addon(row: Any) -> Addon:
    return Addon(
        code=row.code,
        name=row.name,
        tax=TaxCategory(row.tax),
        type=AddonType(row.type),
        price=row.price,
        unit=PeriodUnit(row.unit) if row.unit is not None else None,
        description=row.description,
        active=bool(row.active),
    )


def _to_promotion(row: Any) -> Promotion:
    return Promotion(
        code=row.code,
        name=row.name,
        scope=PromotionScope(row.scope),
        percent=Decimal(row.percent) if row.percent is not None else None,
        amount=row.amount,
        max_discount=row.max_discount,
        applies_to=tuple(row.applies_to) if row.applies_to is not None else None,
        starts=row.starts,
        ends=row.ends,
        min_amount=row.min_amount,
        quota=row.quota,
        per_customer=row.per_customer,
        active=bool(row.active),
        coupon_code=row.coupon_code,
    )


class SqlCatalogRepository(SqlRepository):
    __slots__ = ("_changed",)

    def __init__(self, session: Any) -> None:
        super().__init__(session)
        self._changed = False

    async def revision(self) -> int:
        value = await self._session.scalar(
            select(CounterRow.value).where(CounterRow.name == CATALOG_REVISION_COUNTER)
        )
        return int(value or 0)

    async def load(self) -> Catalog:
        services = (
            await self._session.scalars(select(ServiceRow).order_by(ServiceRow.position))
        ).all()
        plans = (
            await self._session.scalars(select(PlanRow).order_by(PlanRow.position, PlanRow.id))
        ).all()
        cycles = (
            await self._session.scalars(select(CycleRow).order_by(CycleRow.position, CycleRow.id))
        ).all()
        addons = (
            await self._session.scalars(select(AddonRow).order_by(AddonRow.position, AddonRow.id))
        ).all()
        promotions = (
            await self._session.scalars(
                select(PromotionRow).order_by(PromotionRow.position, PromotionRow.code)
            )
        ).all()

        cycles_by_plan: dict[int, list[Any]] = {}
        for c in cycles:
            cycles_by_plan.setdefault(c.plan_id, []).append(c)
        plans_by_service: dict[str, list[Plan]] = {}
        for p in plans:
            own = cycles_by_plan.get(p.id, [])
            shown = [c for c in own if c.active] or own
            plans_by_service.setdefault(p.service_code, []).append(_to_plan(p, shown))
        addons_by_service: dict[str, list[Addon]] = {}
        for a in addons:
            addons_by_service.setdefault(a.service_code, []).append(_to_addon(a))

        return Catalog(
            services=tuple(
                Service(
                    code=s.code,
                    name=s.name,
                    kind=ServiceKind(s.kind),
                    plans=tuple(plans_by_service.get(s.code, ())),
                    addons=tuple(addons_by_service.get(s.code, ())),
                    description=s.description,
                    active=bool(s.active),
                )
                for s in sorted(services, key=lambda s: (not s.active, s.position, s.code))
            ),
            promotions=tuple(_to_promotion(p) for p in promotions),
        )

    async def replace(self, catalog: Catalog) -> bool:
        await self._lock()
        self._changed = False
        wanted_services = {s.code: s for s in catalog.services}

        services = {r.code: r for r in (await self._session.scalars(select(ServiceRow))).all()}
        for position, service in enumerate(catalog.services):
            await self._upsert_by_key(
                ServiceRow,
                services.get(service.code),
                {"code": service.code},
                _service_values(service, position),
            )
        gone_services = [c for c, r in services.items() if c not in wanted_services and r.active]
        await self._deactivate(ServiceRow, ServiceRow.code, gone_services)
        await self._deactivate(PlanRow, PlanRow.service_code, gone_services)
        await self._deactivate(AddonRow, AddonRow.service_code, gone_services)

        plans = {
            (r.service_code, r.code): r
            for r in (await self._session.scalars(select(PlanRow))).all()
        }
        plan_ids: dict[tuple[str, str], int] = {}
        for service in catalog.services:
            for position, plan in enumerate(service.plans):
                key = (service.code, plan.code)
                plan_ids[key] = await self._upsert_by_key(
                    PlanRow,
                    plans.get(key),
                    {"service_code": service.code, "code": plan.code},
                    _plan_values(plan, position),
                )
        gone_plans = [
            r.id
            for key, r in plans.items()
            if key not in plan_ids and r.active and key[0] in wanted_services
        ]
        await self._deactivate(PlanRow, PlanRow.id, gone_plans)

        cycles = {
            (r.plan_id, r.code): r for r in (await self._session.scalars(select(CycleRow))).all()
        }
        wanted_cycles: set[tuple[int, str]] = set()
        for service in catalog.services:
            for plan in service.plans:
                plan_id = plan_ids[(service.code, plan.code)]
                for position, cycle in enumerate(plan.cycles):
                    wanted_cycles.add((plan_id, cycle.code))
                    await self._upsert_by_key(
                        CycleRow,
                        cycles.get((plan_id, cycle.code)),
                        {"plan_id": plan_id, "code": cycle.code},
                        _cycle_values(cycle, position),
                    )
        redefined = set(plan_ids.values())
        gone_cycles = [
            r.id
            for key, r in cycles.items()
            if key not in wanted_cycles and r.active and key[0] in redefined
        ]
        await self._deactivate(CycleRow, CycleRow.id, gone_cycles)

        addons = {
            (r.service_code, r.code): r
            for r in (await self._session.scalars(select(AddonRow))).all()
        }
        wanted_addons: set[tuple[str, str]] = set()
        for service in catalog.services:
            for position, addon in enumerate(service.addons):
                key = (service.code, addon.code)
                wanted_addons.add(key)
                await self._upsert_by_key(
                    AddonRow,
                    addons.get(key),
                    {"service_code": service.code, "code": addon.code},
                    _addon_values(addon, position),
                )
        gone_addons = [
            r.id
            for key, r in addons.items()
            if key not in wanted_addons and r.active and key[0] in wanted_services
        ]
        await self._deactivate(AddonRow, AddonRow.id, gone_addons)

        promotions = {r.code: r for r in (await self._session.scalars(select(PromotionRow))).all()}
        for position, promotion in enumerate(catalog.promotions):
            await self._upsert_by_key(
                PromotionRow,
                promotions.get(promotion.code),
                {"code": promotion.code},
                _promotion_values(promotion, position),
            )
        wanted_promotions = {p.code for p in catalog.promotions}
        gone_promotions = [
            c for c, r in promotions.items() if c not in wanted_promotions and r.active
        ]
        await self._deactivate(PromotionRow, PromotionRow.code, gone_promotions)

        if self._changed:
            await self._session.execute(
                update(CounterRow)
                .where(CounterRow.name == CATALOG_REVISION_COUNTER)
                .values(value=CounterRow.value + 1)
            )
        return self._changed

    async def _lock(self) -> None:
        """Serialise concurrent replaces on the revision counter's row."""
        await self._session.execute(
            self._insert(CounterRow)
            .values(name=CATALOG_REVISION_COUNTER, value=0)
            .on_conflict_do_nothing(index_elements=[CounterRow.name])
        )
        await self._session.execute(
            select(CounterRow.value)
            .where(CounterRow.name == CATALOG_REVISION_COUNTER)
            .with_for_update()
        )

    async def _upsert_by_key(
        self,
        model: Any,
        row: Any | None,
        key: Mapping[str, Any],
        wanted: Mapping[str, Any],
    ) -> Any:
        """Insert the row or update the columns that differ; the row's id (or code)."""
        pk = model.__mapper__.primary_key[0]
        if row is None:
            self._changed = True
            result = await self._session.execute(
                insert(model).values({**key, **wanted}).returning(pk)
            )
            return result.scalar_one()
        changes = _differences(row, wanted)
        if changes:
            self._changed = True
            await self._session.execute(
                update(model)
                .where(pk == getattr(row, pk.key))
                .values(changes)
                .execution_options(synchronize_session=False)
            )
        return getattr(row, pk.key)

    async def _deactivate(self, model: Any, column: Any, values: list[Any]) -> None:
        if not values:
            return
        result = await self._session.execute(
            update(model)
            .where(column.in_(values), model.active.is_(True))
            .values(active=False)
            .execution_options(synchronize_session=False)
        )
        if rowcount(result):
            self._changed = True
