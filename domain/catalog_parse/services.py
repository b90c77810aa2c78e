"""Services, their plans, billing cycles, price tiers and add-ons."""

from __future__ import annotations

from domain.catalog import (
    Addon,
    AddonType,
    BillingCycle,
    DowngradePolicy,
    PeriodUnit,
    Plan,
    PriceTier,
    PricingStrategy,
    Service,
    ServiceKind,
    TaxCategory,
)
from domain.catalog_parse.reading import (
    _ADDON_KEYS,
    _CYCLE_KEYS,
    _PLAN_KEYS,
    _SERVICE_KEYS,
    _TIER_KEYS,
    _TIERED,
    MAX_TRIAL_DAYS,
    _integer,
    _mapping,
    _Node,
    _Problems,
    _type_name,
    _Unique,
    _written_codes,
)


def _service(
    raw: object, path: str, service_codes: _Unique, addon_codes: _Unique, p: _Problems
) -> Service | None:
    data = _mapping(raw, path, p)
    if data is None:
        return None
    n = _Node(data, path, _SERVICE_KEYS, p)
    code = n.code()
    service_codes.add(code, n.at("code"))
    name = n.text("name")
    kind = n.choice("kind", ServiceKind)
    description = n.text("description", required=False)
    raw_plans = n.sequence("plans", required=True, non_empty=True)
    raw_addons = n.sequence("addons", required=False, non_empty=False)

    own_addon_codes = _written_codes([data], "addons")
    plan_codes = _Unique("plan", p)
    plans: list[Plan] = []
    for i, raw_plan in enumerate(raw_plans):
        plan = _plan(raw_plan, n.at(f"plans[{i}]"), plan_codes, own_addon_codes, p)
        if plan is not None:
            plans.append(plan)
    addons: list[Addon] = []
    for i, raw_addon in enumerate(raw_addons):
        addon = _addon(raw_addon, n.at(f"addons[{i}]"), addon_codes, p)
        if addon is not None:
            addons.append(addon)
    if kind is None:
        return None
    return Service(
        code=code,
        name=name,
        kind=kind,
        plans=tuple(plans),
        addons=tuple(addons),
        description=description,
    )


def _plan(
    raw: object, path: str, plan_codes: _Unique, service_addons: frozenset[str], p: _Problems
) -> Plan | None:
    data = _mapping(raw, path, p)
    if data is None:
        return None
    n = _Node(data, path, _PLAN_KEYS, p)
    code = n.code()
    plan_codes.add(code, n.at("code"))
    name = n.text("name")
    tax = n.choice("tax", TaxCategory)
    pricing = n.choice("pricing", PricingStrategy)
    description = n.text("description", required=False)
    setup_fee = n.integer("setup_fee", minimum=0, required=False)
    trial_days = n.integer("trial_days", minimum=0, required=False)
    if trial_days is not None and trial_days > MAX_TRIAL_DAYS:
        p.add(n.at("trial_days"), f"must be at most {MAX_TRIAL_DAYS} days, got {trial_days}")
        trial_days = None
    downgrade = (
        n.choice("downgrade", DowngradePolicy, required=False) or DowngradePolicy.IMMEDIATELY
    )

    features: list[str] = []
    for i, feature in enumerate(n.sequence("features", required=False, non_empty=False)):
        if isinstance(feature, str) and feature.strip():
            features.append(feature.strip())
        else:
            p.add(n.at(f"features[{i}]"), f"must be non-empty text, not {_type_name(feature)}")

    allowed_addons: list[str] = []
    seen_addons: set[str] = set()
    for i, addon_code in enumerate(n.sequence("addons", required=False, non_empty=False)):
        at = n.at(f"addons[{i}]")
        if not isinstance(addon_code, str):
            p.add(at, f"must be an add-on code (text), not {_type_name(addon_code)}")
        elif addon_code not in service_addons:
            p.add(at, f"unknown add-on {addon_code!r}: not an add-on of this service")
        elif addon_code in seen_addons:
            p.add(at, f"add-on {addon_code!r} is listed twice")
        else:
            seen_addons.add(addon_code)
            allowed_addons.append(addon_code)

    cycle_codes = _Unique("cycle", p)
    cycles: list[BillingCycle] = []
    for i, raw_cycle in enumerate(n.sequence("cycles", required=True, non_empty=True)):
        cycle = _cycle(raw_cycle, n.at(f"cycles[{i}]"), pricing, cycle_codes, p)
        if cycle is not None:
            cycles.append(cycle)

    if tax is None or pricing is None or setup_fee is None or trial_days is None:
        return None
    return Plan(
        code=code,
        name=name,
        tax=tax,
        pricing=pricing,
        cycles=tuple(cycles),
        features=tuple(features),
        addons=tuple(allowed_addons),
        setup_fee=setup_fee,
        description=description,
        trial_days=trial_days,
        downgrade=downgrade,
    )


def _cycle(
    raw: object,
    path: str,
    pricing: PricingStrategy | None,
    cycle_codes: _Unique,
    p: _Problems,
) -> BillingCycle | None:
    data = _mapping(raw, path, p)
    if data is None:
        return None
    n = _Node(data, path, _CYCLE_KEYS, p)
    code = n.code()
    cycle_codes.add(code, n.at("code"))
    every = n.integer("every", minimum=1)
    unit = n.choice("unit", PeriodUnit)

    price: int | None = 0
    tiers: tuple[PriceTier, ...] = ()
    if pricing in _TIERED:
        if n.has("price"):
            p.add(n.at("price"), f"not used with pricing {pricing}: give the prices in tiers")
        if n.has("tiers"):
            tiers = _tiers(n.raw("tiers"), n.at("tiers"), p)
        else:
            p.add(n.at("tiers"), f"required with pricing {pricing}")
    else:
        price = n.integer("price", minimum=0)
        if n.has("tiers") and pricing is not None:
            p.add(n.at("tiers"), f"only used with pricing tier, volume or stairstep, not {pricing}")

    if every is None or unit is None or price is None:
        return None
    return BillingCycle(code=code, every=every, unit=unit, price=price, tiers=tiers)


def _tiers(raw: object, path: str, p: _Problems) -> tuple[PriceTier, ...]:
    if not isinstance(raw, list | tuple):
        p.add(path, f"must be a list, not {_type_name(raw)}")
        return ()
    if not raw:
        p.add(path, "must not be empty")
        return ()
    tiers: list[PriceTier] = []
    previous: int | None = None
    last = len(raw) - 1
    for i, item in enumerate(raw):
        at = f"{path}[{i}]"
        data = _mapping(item, at, p)
        if data is None:
            continue
        n = _Node(data, at, _TIER_KEYS, p)
        price = n.integer("price", minimum=0)
        up_to: int | None = None
        if not n.has("up_to"):
            p.add(n.at("up_to"), "required (null for the last tier)")
        elif n.raw("up_to") is None:
            if i != last:
                p.add(n.at("up_to"), "only the last tier may have up_to: null")
        else:
            up_to = _integer(n.raw("up_to"), n.at("up_to"), 1, p)
            if up_to is not None:
                if i == last:
                    p.add(n.at("up_to"), "the last tier must have up_to: null (no limit)")
                if previous is not None and up_to <= previous:
                    p.add(n.at("up_to"), f"must be greater than the previous up_to ({previous})")
                previous = up_to
        if price is not None:
            tiers.append(PriceTier(up_to=up_to, price=price))
    return tuple(tiers)


def _addon(raw: object, path: str, addon_codes: _Unique, p: _Problems) -> Addon | None:
    data = _mapping(raw, path, p)
    if data is None:
        return None
    n = _Node(data, path, _ADDON_KEYS, p)
    code = n.code()
    addon_codes.add(code, n.at("code"))
    name = n.text("name")
    tax = n.choice("tax", TaxCategory)
    addon_type = n.choice("type", AddonType)
    price = n.integer("price", minimum=0)
    description = n.text("description", required=False)
    unit: PeriodUnit | None = None
    if addon_type is AddonType.PERIODIC:
        unit = n.choice("unit", PeriodUnit)
    elif addon_type is AddonType.ONCE and n.has("unit"):
        p.add(n.at("unit"), "only used with type periodic")
    if tax is None or addon_type is None or price is None:
        return None
    if addon_type is AddonType.PERIODIC and unit is None:
        return None
    return Addon(
        code=code,
        name=name,
        tax=tax,
        type=addon_type,
        price=price,
        unit=unit,
        description=description,
    )
