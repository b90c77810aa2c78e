"""The fake catalog (storage/repositories/catalog.py): ``replace`` upserts every entry and marks
the ones no longer in the file inactive (never deletes them); the revision counter moves only
when something changed; ``load`` returns everything, inactive entries included."""

from __future__ import annotations

from dataclasses import replace as copy_with
from typing import Any

from domain.catalog import Addon, Catalog, Plan, Promotion, Service
from domain.model import CATALOG_REVISION_COUNTER
from tests.fakes.store import CatalogRows, FakeRepository


class FakeCatalogRepository(FakeRepository):
    __slots__ = ()

    async def revision(self) -> int:
        return (await self._t()).counters.get(CATALOG_REVISION_COUNTER, 0)

    async def load(self) -> Catalog:
        rows = (await self._t()).catalog
        plans: dict[str, list[Plan]] = {}
        for (service_code, _), (plan, _, plan_id) in sorted(
            rows.plans.items(), key=lambda kv: (kv[1][1], kv[1][2])
        ):
            own = sorted(
                (v for (p, _), v in rows.cycles.items() if p == plan_id),
                key=lambda v: (v[1], v[2]),
            )
            shown = [v for v in own if v[3]] or own
            plans.setdefault(service_code, []).append(
                copy_with(plan, cycles=tuple(v[0] for v in shown))
            )
        addons: dict[str, list[Addon]] = {}
        for (service_code, _), (addon, _, _) in sorted(
            rows.addons.items(), key=lambda kv: (kv[1][1], kv[1][2])
        ):
            addons.setdefault(service_code, []).append(addon)
        services = sorted(rows.services.values(), key=lambda v: (not v[0].active, v[1], v[0].code))
        return Catalog(
            services=tuple(
                copy_with(
                    s,
                    plans=tuple(plans.get(s.code, ())),
                    addons=tuple(addons.get(s.code, ())),
                )
                for s, _ in services
            ),
            promotions=tuple(
                p for p, _ in sorted(rows.promotions.values(), key=lambda v: (v[1], v[0].code))
            ),
        )

    async def replace(self, catalog: Catalog) -> bool:
        t = await self._t()
        t.counters.setdefault(CATALOG_REVISION_COUNTER, 0)
        rows: CatalogRows = t.catalog
        changed = False

        def put(table: dict[Any, Any], key: Any, value: tuple[Any, ...]) -> None:
            nonlocal changed
            if table.get(key) != value:
                changed = True
                table[key] = value

        def deactivate(table: dict[Any, Any], keys: list[Any]) -> None:
            nonlocal changed
            for key in keys:
                entity, *rest = table[key]
                if entity.active:
                    changed = True
                    table[key] = (copy_with(entity, active=False), *rest)

        wanted_services = {s.code for s in catalog.services}
        for position, service in enumerate(catalog.services):
            put(rows.services, service.code, (_bare_service(service), position))
        gone = [c for c, (s, _) in rows.services.items() if c not in wanted_services and s.active]
        deactivate(rows.services, gone)
        deactivate(rows.plans, [k for k in rows.plans if k[0] in gone])
        deactivate(rows.addons, [k for k in rows.addons if k[0] in gone])

        plan_ids: dict[tuple[str, str], int] = {}
        for service in catalog.services:
            for position, plan in enumerate(service.plans):
                key = (service.code, plan.code)
                old = rows.plans.get(key)
                plan_id = old[2] if old is not None else self._store.next_id("catalog_plans")
                plan_ids[key] = plan_id
                put(rows.plans, key, (copy_with(plan, cycles=()), position, plan_id))
        deactivate(
            rows.plans,
            [k for k in rows.plans if k not in plan_ids and k[0] in wanted_services],
        )

        wanted_cycles: set[tuple[int, str]] = set()
        for service in catalog.services:
            for plan in service.plans:
                plan_id = plan_ids[(service.code, plan.code)]
                for position, cycle in enumerate(plan.cycles):
                    cycle_key = (plan_id, cycle.code)
                    wanted_cycles.add(cycle_key)
                    old_cycle = rows.cycles.get(cycle_key)
                    cycle_id = (
                        old_cycle[2]
                        if old_cycle is not None
                        else self._store.next_id("catalog_cycles")
                    )
                    put(rows.cycles, cycle_key, (cycle, position, cycle_id, True))
        redefined = set(plan_ids.values())
        for cycle_key, (cycle, position, cycle_id, active) in list(rows.cycles.items()):
            if cycle_key not in wanted_cycles and active and cycle_key[0] in redefined:
                changed = True
                rows.cycles[cycle_key] = (cycle, position, cycle_id, False)

        wanted_addons: set[tuple[str, str]] = set()
        for service in catalog.services:
            for position, addon in enumerate(service.addons):
                key = (service.code, addon.code)
                wanted_addons.add(key)
                old_addon = rows.addons.get(key)
                addon_id = (
                    old_addon[2] if old_addon is not None else self._store.next_id("catalog_addons")
                )
                put(rows.addons, key, (addon, position, addon_id))
        deactivate(
            rows.addons,
            [k for k in rows.addons if k not in wanted_addons and k[0] in wanted_services],
        )

        wanted_promotions = {p.code for p in catalog.promotions}
        for position, promotion in enumerate(catalog.promotions):
            put(rows.promotions, promotion.code, (_kept(rows, promotion), position))
        deactivate(rows.promotions, [c for c in rows.promotions if c not in wanted_promotions])

        if changed:
            t.counters[CATALOG_REVISION_COUNTER] += 1
        return changed


def _bare_service(service: Service) -> Service:
    return copy_with(service, plans=(), addons=())


def _kept(rows: CatalogRows, promotion: Promotion) -> Promotion:
    """A promotion equal to the stored one keeps the stored value: ``Decimal("10.00")`` equals
    ``Decimal("10")``, so the SQL side sees no change and keeps the text it has."""
    old = rows.promotions.get(promotion.code)
    return old[0] if old is not None and old[0] == promotion else promotion
