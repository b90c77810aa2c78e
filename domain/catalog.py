"""The catalog: what can be bought (services, plans, cycles, add-ons) and the promotions.

Catalog objects are immutable value objects. Money is ``int`` đồng, never float. Codes are the
stable identity an operator writes in the catalog file; a code removed from the file is kept
with ``active=False`` so frozen orders can still be read.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


class ServiceKind(enum.StrEnum):
    ON = "ON"  # online SaaS, paid through VNPT Pay only
    OS = "OS"  # order service, fulfilled offline, paid in cash only


class TaxCategory(enum.StrEnum):
    KCT = "KCT"  # not subject to VAT
    VAT0 = "0%"
    VAT5 = "5%"
    VAT8 = "8%"
    VAT10 = "10%"

    @property
    def rate(self) -> Decimal:
        return {
            TaxCategory.KCT: Decimal(0),
            TaxCategory.VAT0: Decimal(0),
            TaxCategory.VAT5: Decimal("0.05"),
            TaxCategory.VAT8: Decimal("0.08"),
            TaxCategory.VAT10: Decimal("0.10"),
        }[self]


class PricingStrategy(enum.StrEnum):
    FLAT = "flat"  # the cycle's price
    UNIT = "unit"  # price × quantity
    TIER = "tier"  # each unit priced by the tier it falls in (graduated)
    VOLUME = "volume"  # all units at the price of the tier the quantity reaches
    STAIRSTEP = "stairstep"  # one flat price for the tier the quantity reaches

    @property
    def uses_quantity(self) -> bool:
        return self is not PricingStrategy.FLAT


class PeriodUnit(enum.StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class DowngradePolicy(enum.StrEnum):
    """When a change to something cheaper takes effect (see ``docs/proration.md``)."""

    IMMEDIATELY = "immediately"  # now, the unused part credited as a memo
    AT_PERIOD_END = "at_period_end"  # at the end of the paid period, nothing credited


class AddonType(enum.StrEnum):
    ONCE = "once"  # one-off price
    PERIODIC = "periodic"  # price per ``unit``, billed over the plan's whole cycle


class PromotionScope(enum.StrEnum):
    PLAN = "plan"
    ADDON = "addon"
    INVOICE = "invoice"


@dataclass(frozen=True, slots=True)
class PriceTier:
    """One row of a tier table: quantities up to ``up_to`` (inclusive; None = no limit)."""

    up_to: int | None
    price: int


@dataclass(frozen=True, slots=True)
class BillingCycle:
    code: str
    every: int
    unit: PeriodUnit
    price: int  # flat: the price; unit: per unit; tier strategies: unused (0)
    tiers: tuple[PriceTier, ...] = ()


@dataclass(frozen=True, slots=True)
class Plan:
    code: str
    name: str
    tax: TaxCategory
    pricing: PricingStrategy
    cycles: tuple[BillingCycle, ...]
    features: tuple[str, ...] = ()
    addons: tuple[str, ...] = ()  # add-on codes (of the same service) allowed with this plan
    setup_fee: int = 0
    description: str = ""
    active: bool = True
    #: a free trial of this many days may be started once per business and service (0: none)
    trial_days: int = 0
    #: when a change from this plan to something cheaper takes effect
    downgrade: DowngradePolicy = DowngradePolicy.IMMEDIATELY

    def cycle(self, code: str) -> BillingCycle | None:
        return next((c for c in self.cycles if c.code == code), None)

    @property
    def is_multi_cycle(self) -> bool:
        return len(self.cycles) > 1


@dataclass(frozen=True, slots=True)
class Addon:
    code: str
    name: str
    tax: TaxCategory
    type: AddonType
    price: int
    unit: PeriodUnit | None = None  # periodic only
    description: str = ""
    active: bool = True


@dataclass(frozen=True, slots=True)
class Service:
    code: str
    name: str
    kind: ServiceKind
    plans: tuple[Plan, ...]
    addons: tuple[Addon, ...] = ()
    description: str = ""
    active: bool = True

    def plan(self, code: str) -> Plan | None:
        return next((p for p in self.plans if p.code == code), None)

    def addon(self, code: str) -> Addon | None:
        return next((a for a in self.addons if a.code == code), None)


@dataclass(frozen=True, slots=True)
class Promotion:
    code: str
    name: str
    scope: PromotionScope
    percent: Decimal | None = None  # 0 < percent ≤ 100
    amount: int | None = None  # fixed amount in đồng (exactly one of percent/amount)
    max_discount: int | None = None  # cap in đồng, percent promotions only
    applies_to: tuple[str, ...] | None = None  # plan or add-on codes; None = all
    starts: date | None = None  # inclusive, Asia/Ho_Chi_Minh date
    ends: date | None = None  # inclusive
    min_amount: int = 0
    quota: int | None = None  # total uses
    per_customer: int | None = None  # uses per enterprise
    active: bool = True
    #: a promotion with a coupon code is not offered in the lists: the customer types the code
    #: (matched case-insensitively, see :meth:`Catalog.coupon`)
    coupon_code: str | None = None


def coupon_key(typed: str) -> str:
    """How a coupon code is compared: without surrounding blanks, case-insensitively."""
    return typed.strip().casefold()


@dataclass(frozen=True, slots=True)
class Catalog:
    """A whole catalog. Inactive (removed) entries are kept for reading old orders."""

    services: tuple[Service, ...] = ()
    promotions: tuple[Promotion, ...] = ()
    _service_index: dict[str, Service] = field(default_factory=dict, compare=False, repr=False)
    _promo_index: dict[str, Promotion] = field(default_factory=dict, compare=False, repr=False)
    _coupon_index: dict[str, Promotion] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._service_index.update({s.code: s for s in self.services})
        self._promo_index.update({p.code: p for p in self.promotions})
        # active ones last: a removed promotion never hides an active one with the same code
        ordered = sorted(self.promotions, key=lambda p: p.active)
        self._coupon_index.update({coupon_key(p.coupon_code): p for p in ordered if p.coupon_code})

    def service(self, code: str) -> Service | None:
        return self._service_index.get(code)

    def promotion(self, code: str) -> Promotion | None:
        return self._promo_index.get(code)

    def coupon(self, typed: str) -> Promotion | None:
        """The promotion whose coupon code is ``typed`` (case-insensitive, blanks around it
        ignored), active or not; None when no promotion has that code."""
        key = coupon_key(typed)
        return self._coupon_index.get(key) if key else None

    def has_coupons(self, scope: PromotionScope | None = None) -> bool:
        """Some active promotion (of ``scope``, when given) is used by typing its code."""
        return any(p.coupon_code for p in self.active_promotions(scope))

    def active_services(self) -> Iterator[Service]:
        return (s for s in self.services if s.active)

    def active_promotions(self, scope: PromotionScope | None = None) -> Iterator[Promotion]:
        return (p for p in self.promotions if p.active and (scope is None or p.scope is scope))
