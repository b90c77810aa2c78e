"""Turning a catalog document (the plain structure a YAML 1.2 or JSON loader gives) into
:mod:`domain.catalog` objects.

The parser never stops at the first mistake: it walks the whole document and collects every
problem as ``(path, message)``, e.g. ``("services[0].plans[1].cycles[0].price", "must be ≥ 0")``,
so an operator can fix a file in one go. Any problem raises :class:`CatalogInvalid` and no
catalog is returned, so an invalid file can never be half-loaded.

Cross-references are checked against every code *written* in the file (even one that has a
problem of its own), so one bad entry does not cascade into spurious "unknown code" problems.

Rules beyond the file format itself:

* codes match ``[A-Z0-9_-]{1,64}``;
* service codes are unique; plan codes are unique within their service (the format says so);
  add-on codes and promotion codes are unique across the whole file (a promotion of scope
  ``addon`` names add-ons by code alone, so an add-on code must not be ambiguous);
  cycle codes are unique within their plan;
* ``flat``/``unit`` cycles carry ``price``; ``tier``/``volume``/``stairstep`` cycles carry
  ``tiers`` instead (ascending ``up_to``, the last one ``null``);
* a plan's ``trial_days`` (optional, 0–365, default 0: no trial) and ``downgrade``
  (optional, ``immediately`` (default) or ``at_period_end``; see ``docs/proration.md``);
* integers are real integers: ``true`` is not ``1`` and ``"1800000"`` is not a price;
* a promotion's optional ``coupon_code`` (typed by the customer instead of offered in the list)
  is non-empty text without blanks, at most 32 characters, unique across the file compared
  case-insensitively (``TET2027`` and ``tet2027`` are the same code).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

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
    coupon_key,
)
from domain.errors import CatalogInvalid

__all__ = ["CODE_MAX_LENGTH", "CODE_PATTERN", "COUPON_MAX_LENGTH", "parse_catalog"]

CODE_PATTERN = re.compile(r"[A-Z0-9_-]+")
CODE_MAX_LENGTH = 64
#: the longest free trial a plan may offer (``trial_days``)
MAX_TRIAL_DAYS = 365
_DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")

_E = TypeVar("_E", bound=StrEnum)

_TOP_KEYS = frozenset({"services", "promotions"})
_SERVICE_KEYS = frozenset({"code", "name", "kind", "description", "plans", "addons"})
_PLAN_KEYS = frozenset(
    {
        "code",
        "name",
        "tax",
        "pricing",
        "cycles",
        "features",
        "addons",
        "setup_fee",
        "description",
        "trial_days",
        "downgrade",
    }
)
_CYCLE_KEYS = frozenset({"code", "every", "unit", "price", "tiers"})
_TIER_KEYS = frozenset({"up_to", "price"})
_ADDON_KEYS = frozenset({"code", "name", "tax", "type", "price", "unit", "description"})
_PROMOTION_KEYS = frozenset(
    {
        "code",
        "name",
        "scope",
        "percent",
        "amount",
        "max_discount",
        "applies_to",
        "starts",
        "ends",
        "min_amount",
        "quota",
        "per_customer",
        "coupon_code",
    }
)
#: a coupon code is typed by customers: no blanks inside, at most this long
COUPON_MAX_LENGTH = 32
_BLANK = re.compile(r"\s")
_TIERED = frozenset({PricingStrategy.TIER, PricingStrategy.VOLUME, PricingStrategy.STAIRSTEP})


class _Problems:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, path: str, message: str) -> None:
        self.items.append((path, message))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, int | float | Decimal):
        return f"the number {value}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


class _Node:
    """One mapping of the document, with its path, checked against the keys it may hold."""

    def __init__(
        self, data: Mapping[object, object], path: str, allowed: frozenset[str], p: _Problems
    ) -> None:
        self.data = data
        self.path = path
        self.p = p
        for key in data:
            if not isinstance(key, str) or key not in allowed:
                self.p.add(_join(path, str(key)), "unknown key")

    def at(self, key: str) -> str:
        return _join(self.path, key)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> object:
        return self.data.get(key)

    def text(self, key: str, *, required: bool = True) -> str:
        """A non-empty string, stripped; ``""`` when absent-and-optional or invalid."""
        if key not in self.data:
            if required:
                self.p.add(self.at(key), "required")
            return ""
        value = self.data[key]
        if not isinstance(value, str):
            self.p.add(self.at(key), f"must be text, not {_type_name(value)}")
            return ""
        value = value.strip()
        if required and not value:
            self.p.add(self.at(key), "must not be empty")
        return value

    def code(self, key: str = "code") -> str:
        """The code as written (even if malformed, for cross-references); ``""`` if not text."""
        if key not in self.data:
            self.p.add(self.at(key), "required")
            return ""
        value = self.data[key]
        if not isinstance(value, str):
            self.p.add(self.at(key), f"must be a code (text), not {_type_name(value)}")
            return ""
        _check_code(value, self.at(key), self.p)
        return value

    def integer(
        self, key: str, *, minimum: int, required: bool = True, default: int = 0
    ) -> int | None:
        """An ``int`` (never a bool, float or numeric string) ``≥ minimum``.

        Returns ``default`` when absent and optional, ``None`` when invalid.
        """
        if key not in self.data:
            if required:
                self.p.add(self.at(key), "required")
                return None
            return default
        return _integer(self.data[key], self.at(key), minimum, self.p)

    def optional_integer(self, key: str, *, minimum: int) -> int | None:
        if key not in self.data or self.data[key] is None:
            return None
        return _integer(self.data[key], self.at(key), minimum, self.p)

    def choice(self, key: str, enum: type[_E], *, required: bool = True) -> _E | None:
        if key not in self.data:
            if required:
                self.p.add(self.at(key), "required")
            return None
        return _choice(self.data[key], self.at(key), enum, self.p)

    def sequence(self, key: str, *, required: bool, non_empty: bool) -> list[object]:
        if key not in self.data:
            if required:
                self.p.add(self.at(key), "required")
            return []
        value = self.data[key]
        if not isinstance(value, list | tuple):
            self.p.add(self.at(key), f"must be a list, not {_type_name(value)}")
            return []
        if non_empty and not value:
            self.p.add(self.at(key), "must not be empty")
        return list(value)

    def date(self, key: str) -> dt.date | None:
        if key not in self.data or self.data[key] is None:
            return None
        value = self.data[key]
        path = self.at(key)
        if isinstance(value, dt.datetime):
            self.p.add(path, "must be a date (YYYY-MM-DD) without a time")
            return None
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str) and _DATE_PATTERN.fullmatch(value.strip()):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                self.p.add(path, f"{value!r} is not a valid date")
                return None
        self.p.add(path, f"must be a date (YYYY-MM-DD), not {_type_name(value)}")
        return None


def _check_code(value: str, path: str, p: _Problems) -> None:
    if not value:
        p.add(path, "must not be empty")
    elif not CODE_PATTERN.fullmatch(value):
        p.add(path, f"{value!r} must use only A-Z, 0-9, '_' and '-'")
    elif len(value) > CODE_MAX_LENGTH:
        p.add(path, f"must be at most {CODE_MAX_LENGTH} characters")


def _integer(value: object, path: str, minimum: int, p: _Problems) -> int | None:
    if not _is_int(value):
        p.add(path, f"must be a whole number, not {_type_name(value)}")
        return None
    assert isinstance(value, int)
    if value < minimum:
        p.add(path, f"must be ≥ {minimum}")
        return None
    return value


def _choice(value: object, path: str, enum: type[_E], p: _Problems) -> _E | None:
    allowed = [str(m.value) for m in enum]
    if isinstance(value, str) and value in allowed:
        return enum(value)
    p.add(path, f"must be one of {', '.join(allowed)}, not {_type_name(value)}")
    return None


def _mapping(value: object, path: str, p: _Problems) -> Mapping[object, object] | None:
    if isinstance(value, Mapping):
        return value
    p.add(path or "<root>", f"must be a mapping, not {_type_name(value)}")
    return None


class _Unique:
    """Remembers where each code was first written, to report duplicates with both places."""

    def __init__(self, what: str, p: _Problems) -> None:
        self.what = what
        self.p = p
        self.seen: dict[str, str] = {}

    def add(self, code: str, path: str) -> None:
        if not code:
            return
        first = self.seen.get(code)
        if first is None:
            self.seen[code] = path
        else:
            self.p.add(path, f"duplicate {self.what} code {code!r} (first at {first})")


def parse_catalog(data: object) -> Catalog:
    """Validate a catalog document and build the :class:`Catalog` it describes.

    Raises :class:`CatalogInvalid` listing every problem, in document order where possible.
    """
    p = _Problems()
    root = _mapping(data, "", p)
    if root is None:
        raise CatalogInvalid(p.items)
    top = _Node(root, "", _TOP_KEYS, p)
    raw_services = top.sequence("services", required=True, non_empty=True)
    raw_promotions = top.sequence("promotions", required=False, non_empty=False)

    service_codes = _Unique("service", p)
    addon_codes = _Unique("add-on", p)
    services: list[Service] = []
    for i, raw in enumerate(raw_services):
        service = _service(raw, f"services[{i}]", service_codes, addon_codes, p)
        if service is not None:
            services.append(service)

    all_plan_codes = _written_codes(raw_services, "plans")
    all_addon_codes = _written_codes(raw_services, "addons")
    promotion_codes = _Unique("promotion", p)
    coupon_codes = _Unique("coupon", p)
    promotions: list[Promotion] = []
    for i, raw in enumerate(raw_promotions):
        promotion = _promotion(
            raw,
            f"promotions[{i}]",
            (promotion_codes, coupon_codes),
            all_plan_codes,
            all_addon_codes,
            p,
        )
        if promotion is not None:
            promotions.append(promotion)

    if p.items:
        raise CatalogInvalid(p.items)
    return Catalog(services=tuple(services), promotions=tuple(promotions))


def _written_codes(raw_services: list[object], key: str) -> frozenset[str]:
    """Every ``code`` string written under ``services[*].<key>[*]``, valid or not."""
    codes: set[str] = set()
    for service in raw_services:
        if not isinstance(service, Mapping):
            continue
        items = service.get(key)
        if not isinstance(items, list | tuple):
            continue
        for item in items:
            if isinstance(item, Mapping) and isinstance(item.get("code"), str):
                codes.add(item["code"])
    return frozenset(codes)


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


def _percent(value: object, path: str, p: _Problems) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        p.add(path, f"must be a number, not {_type_name(value)}")
        return None
    percent = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not percent.is_finite() or not Decimal(0) < percent <= Decimal(100):
        p.add(path, "must be > 0 and ≤ 100")
        return None
    return percent


def _promotion(
    raw: object,
    path: str,
    unique: tuple[_Unique, _Unique],
    plan_codes: frozenset[str],
    addon_codes: frozenset[str],
    p: _Problems,
) -> Promotion | None:
    """``unique``: the promotion codes and the coupon codes (case-folded) seen so far."""
    data = _mapping(raw, path, p)
    if data is None:
        return None
    promotion_codes, coupon_codes = unique
    n = _Node(data, path, _PROMOTION_KEYS, p)
    code = n.code()
    promotion_codes.add(code, n.at("code"))
    coupon_code = _coupon_code(n, coupon_codes, p)
    name = n.text("name")
    scope = n.choice("scope", PromotionScope)

    has_percent = n.has("percent") and n.raw("percent") is not None
    has_amount = n.has("amount") and n.raw("amount") is not None
    percent: Decimal | None = None
    amount: int | None = None
    max_discount: int | None = None
    bad_value = False
    if has_percent and has_amount:
        p.add(path, "give either percent or amount, not both")
        bad_value = True
    elif not has_percent and not has_amount:
        p.add(path, "needs percent or amount")
        bad_value = True
    if has_percent:
        percent = _percent(n.raw("percent"), n.at("percent"), p)
        bad_value = bad_value or percent is None
    if has_amount:
        amount = _integer(n.raw("amount"), n.at("amount"), 1, p)
        bad_value = bad_value or amount is None
    if n.has("max_discount") and n.raw("max_discount") is not None:
        if has_percent:
            max_discount = _integer(n.raw("max_discount"), n.at("max_discount"), 1, p)
        else:
            p.add(n.at("max_discount"), "only used with percent")

    applies_to = _applies_to(n, scope, plan_codes, addon_codes, p)
    starts = n.date("starts")
    ends = n.date("ends")
    if starts is not None and ends is not None and ends < starts:
        p.add(n.at("ends"), f"must not be before starts ({starts.isoformat()})")
    min_amount = n.integer("min_amount", minimum=0, required=False)
    quota = n.optional_integer("quota", minimum=0)
    per_customer = n.optional_integer("per_customer", minimum=0)

    if scope is None or bad_value or min_amount is None:
        return None
    return Promotion(
        code=code,
        name=name,
        scope=scope,
        percent=percent,
        amount=amount,
        max_discount=max_discount,
        applies_to=applies_to,
        starts=starts,
        ends=ends,
        min_amount=min_amount,
        quota=quota,
        per_customer=per_customer,
        coupon_code=coupon_code,
    )


def _coupon_code(n: _Node, coupon_codes: _Unique, p: _Problems) -> str | None:
    """The optional ``coupon_code``: text, no blanks, unique case-insensitively."""
    if not n.has("coupon_code") or n.raw("coupon_code") is None:
        return None
    at = n.at("coupon_code")
    value = n.raw("coupon_code")
    if not isinstance(value, str):
        p.add(at, f"must be text, not {_type_name(value)}")
        return None
    if not value.strip():
        p.add(at, "must not be empty")
        return None
    if _BLANK.search(value):
        p.add(at, f"{value!r} must not contain spaces")
        return None
    if len(value) > COUPON_MAX_LENGTH:
        p.add(at, f"must be at most {COUPON_MAX_LENGTH} characters")
        return None
    coupon_codes.add(coupon_key(value), at)
    return value


def _applies_to(
    n: _Node,
    scope: PromotionScope | None,
    plan_codes: frozenset[str],
    addon_codes: frozenset[str],
    p: _Problems,
) -> tuple[str, ...] | None:
    if not n.has("applies_to") or n.raw("applies_to") is None:
        return None
    if scope is PromotionScope.INVOICE:
        p.add(n.at("applies_to"), "not used with scope invoice (it applies to the whole invoice)")
        return None
    raw = n.sequence("applies_to", required=False, non_empty=False)
    if isinstance(n.raw("applies_to"), list | tuple) and not raw:
        p.add(n.at("applies_to"), "must not be empty (omit it to apply to all)")
    known: frozenset[str] | None
    what: str
    if scope is PromotionScope.PLAN:
        known, what = plan_codes, "plan"
    elif scope is PromotionScope.ADDON:
        known, what = addon_codes, "add-on"
    else:
        known, what = None, ""
    codes: list[str] = []
    for i, code in enumerate(raw):
        at = n.at(f"applies_to[{i}]")
        if not isinstance(code, str):
            p.add(at, f"must be a code (text), not {_type_name(code)}")
        elif known is not None and code not in known:
            p.add(at, f"unknown {what} {code!r}: no {what} in this file has that code")
        elif code in codes:
            p.add(at, f"{code!r} is listed twice")
        else:
            codes.append(code)
    return tuple(codes)
