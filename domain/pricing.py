"""Pricing: turns a catalog selection into a quote, the frozen price snapshot of an order.

All amounts are ``int`` đồng; the computation is exact (``Decimal`` for percentages, integer
arithmetic for ratios) and rounds half-up to whole đồng only where the rules say so:

1. **Line amounts** (``base_amount``): the plan line by its cycle's pricing strategy
   (:func:`line_base_amount`), a setup line for a non-zero setup fee, one line per ticked add-on
   (:func:`addon_base_amount`; a periodic add-on pro rata by :func:`domain.billing.periodic_units`
   is the one base that can need rounding, half-up).
2. **The line's own promotion** (plan promotion on the plan line, add-on promotion on its add-on;
   setup lines take none): percent (capped by ``max_discount``) or a fixed amount, never more than
   the line. The line total after it is rounded half-up and ``line_discount`` is the difference,
   so 3 % off 120.050 ₫ = 3.601,5 ₫ gives the line total 116.448,5 → 116.449 ₫ and a discount of
   3.601 ₫.
3. **Invoice promotions**, in the order chosen, one after another on the subtotal after line
   discounts — the sum of the rounded line totals of step 2, the whole-đồng amount the customer
   is shown and ``min_amount`` is checked against (two 10 % give 19 %); each percent is capped
   by its own ``max_discount``, each fixed amount stops at 0. The invoice total after them is
   rounded half-up; the invoice discount is the subtotal after line discounts minus that total.
   Per promotion the amount shown is the difference of the running total rounded half-up
   before and after it, so the amounts add up to the invoice discount exactly by construction
   (there is never a remainder to place) and none exceeds its cap or fixed amount.
4. **Spreading**: the invoice discount is spread over the lines pro rata to their amounts after
   line discounts. Each line's total after spreading is its exact pro rata total rounded
   half-up; the leftover đồng (invoice total − sum of those) goes to the largest line (by amount
   after line discount; the first one on a tie). If the largest line cannot take it all without
   going below 0 or above its amount, the rest goes to the next largest lines in turn.
5. **VAT** per tax category (``KCT`` and ``0%`` are separate groups, both with 0 VAT) on the
   sum of the net line amounts of that category, rounded half-up per group.

Nothing is ever below 0 đ. ``total = net_total + vat_total`` and
``net_total = subtotal − line_discount_total − invoice_discount_total`` hold exactly.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)
from types import MappingProxyType
from typing import NamedTuple

from domain.billing import periodic_units
from domain.catalog import (
    Addon,
    AddonType,
    BillingCycle,
    Catalog,
    Plan,
    PricingStrategy,
    Promotion,
    PromotionScope,
    Purchase,
    Service,
    TaxCategory,
)
from domain.errors import CatalogInvalid, InvalidInput, NotFound, PromotionNotApplicable

#: Exact arithmetic: an operation that would have to round raises instead of rounding silently.
_EXACT = Context(
    prec=200,
    rounding=ROUND_HALF_UP,
    traps=[Inexact, InvalidOperation, DivisionByZero, Overflow],
)
_HUNDRED = Decimal(100)
_SNAPSHOT_VERSION = 1


class PromotionRefusal(enum.StrEnum):
    """Why a promotion cannot be used: the ``reason`` of :class:`PromotionNotApplicable`."""

    INACTIVE = "inactive"
    WRONG_SCOPE = "wrong_scope"
    NOT_FOR_PURCHASE = "not_for_purchase"  # e.g. a new-registration promotion on a renewal
    NOT_FOR_TARGET = "not_for_target"
    NOT_STARTED = "not_started"
    EXPIRED = "expired"
    BELOW_MINIMUM = "below_minimum"
    QUOTA_EXHAUSTED = "quota_exhausted"
    CUSTOMER_LIMIT_REACHED = "customer_limit_reached"


class LineKind(enum.StrEnum):
    """What a quote line bills: the plan, its one-off setup fee, or an add-on."""

    PLAN = "plan"
    ADDON = "addon"
    SETUP = "setup"


@dataclass(frozen=True, slots=True)
class Selection:
    """What a customer picked. Validated by :func:`quote`, not on construction, so that a
    conversation can hold a half-made or stale selection and get a named error at quote time.

    ``addon_promotions`` maps an add-on code to a promotion code as pairs (hashable);
    ``invoice_promotions`` apply in the order given.
    """

    service_code: str
    plan_code: str
    cycle_code: str
    quantity: int = 1
    addon_codes: tuple[str, ...] = ()
    plan_promotion: str | None = None
    addon_promotions: tuple[tuple[str, str], ...] = ()
    invoice_promotions: tuple[str, ...] = ()

    def addon_promotion(self, addon_code: str) -> str | None:
        return next((p for a, p in self.addon_promotions if a == addon_code), None)

    @property
    def promotion_codes(self) -> tuple[str, ...]:
        """Every promotion code the selection uses, once each, sorted: an order counts one use
        of each code however many lines it is on."""
        codes = {c for c in (self.plan_promotion,) if c is not None}
        codes.update(p for _, p in self.addon_promotions)
        codes.update(self.invoice_promotions)
        return tuple(sorted(codes))


@dataclass(frozen=True, slots=True)
class PromotionUsage:
    """How often promotions were used: in total, and by the enterprise being quoted.

    The mappings are copied into read-only views; a missing code counts 0.
    """

    total: Mapping[str, int] = field(default_factory=dict)
    by_customer: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total", MappingProxyType(dict(self.total)))
        object.__setattr__(self, "by_customer", MappingProxyType(dict(self.by_customer)))

    def total_uses(self, code: str) -> int:
        return self.total.get(code, 0)

    def customer_uses(self, code: str) -> int:
        return self.by_customer.get(code, 0)


NO_USAGE = PromotionUsage()


class InvoiceDiscount(NamedTuple):
    promotion_code: str
    amount: int


class VatGroup(NamedTuple):
    tax: TaxCategory
    base: int
    vat: int


@dataclass(frozen=True, slots=True)
class QuoteLine:
    """One line of a quote.

    ``unit_price`` is the catalog price the line is built from: the cycle price (flat, unit),
    the price of the tier the quantity reaches (tier, volume, stairstep; for stairstep it is the
    flat amount of that step), the add-on's price (per its unit for a periodic add-on), or the
    setup fee. ``base_amount`` is authoritative; it equals ``unit_price × quantity`` for flat,
    unit and volume pricing, once add-ons and setup lines.
    Invariant: ``net_amount = base_amount − line_discount − invoice_discount``, all ≥ 0.
    """

    kind: LineKind
    code: str
    name: str
    tax: TaxCategory
    quantity: int
    unit_price: int
    base_amount: int
    promotion_code: str | None
    line_discount: int
    invoice_discount: int
    net_amount: int

    def __post_init__(self) -> None:
        amounts = (
            self.quantity,
            self.unit_price,
            self.base_amount,
            self.line_discount,
            self.invoice_discount,
            self.net_amount,
        )
        if any(a < 0 for a in amounts):
            raise ValueError(f"quote line {self.code}: negative amount")
        if self.net_amount != self.base_amount - self.line_discount - self.invoice_discount:
            raise ValueError(f"quote line {self.code}: net ≠ base − discounts")
        if self.promotion_code is None and self.line_discount:
            raise ValueError(f"quote line {self.code}: line discount without a promotion")


@dataclass(frozen=True, slots=True)
class Quote:
    """The price of a selection; stored with orders as :meth:`to_dict`.

    The totals are computed from the lines and checked against ``invoice_discounts`` and
    ``vat_groups`` on construction, so an inconsistent snapshot cannot be built or read back.
    """

    lines: tuple[QuoteLine, ...]
    invoice_discounts: tuple[InvoiceDiscount, ...]
    vat_groups: tuple[VatGroup, ...]
    subtotal: int = field(init=False)
    line_discount_total: int = field(init=False)
    invoice_discount_total: int = field(init=False)
    net_total: int = field(init=False)
    vat_total: int = field(init=False)
    total: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.lines))
        object.__setattr__(
            self, "invoice_discounts", tuple(InvoiceDiscount(*d) for d in self.invoice_discounts)
        )
        object.__setattr__(self, "vat_groups", tuple(VatGroup(*g) for g in self.vat_groups))
        subtotal = sum(line.base_amount for line in self.lines)
        line_discounts = sum(line.line_discount for line in self.lines)
        invoice_discount = sum(line.invoice_discount for line in self.lines)
        net = sum(line.net_amount for line in self.lines)
        vat = sum(g.vat for g in self.vat_groups)
        if sum(d.amount for d in self.invoice_discounts) != invoice_discount:
            raise ValueError("quote: invoice discounts do not add up to the spread discount")
        if any(d.amount < 0 for d in self.invoice_discounts):
            raise ValueError("quote: negative invoice discount")
        bases: dict[TaxCategory, int] = {}
        for line in self.lines:
            bases[line.tax] = bases.get(line.tax, 0) + line.net_amount
        if {g.tax: g.base for g in self.vat_groups} != bases or len(self.vat_groups) != len(bases):
            raise ValueError("quote: VAT group bases do not match the lines")
        if any(g.vat < 0 for g in self.vat_groups):
            raise ValueError("quote: negative VAT")
        object.__setattr__(self, "subtotal", subtotal)
        object.__setattr__(self, "line_discount_total", line_discounts)
        object.__setattr__(self, "invoice_discount_total", invoice_discount)
        object.__setattr__(self, "net_total", net)
        object.__setattr__(self, "vat_total", vat)
        object.__setattr__(self, "total", net + vat)

    @property
    def discounted_subtotal(self) -> int:
        """The subtotal after line discounts: what invoice promotions apply to."""
        return self.subtotal - self.line_discount_total

    def to_dict(self) -> dict[str, object]:
        """A compact JSON-safe snapshot (ints, strings and lists only).

        Lines are positional lists: ``[kind, code, name, tax, quantity, unit_price, base_amount,
        promotion_code or "", line_discount, invoice_discount, net_amount]``; invoice discounts
        ``[code, amount]``; VAT groups ``[tax, base, vat]``. Totals are derived on reading.
        """
        return {
            "v": _SNAPSHOT_VERSION,
            "lines": [
                [
                    line.kind.value,
                    line.code,
                    line.name,
                    line.tax.value,
                    line.quantity,
                    line.unit_price,
                    line.base_amount,
                    line.promotion_code or "",
                    line.line_discount,
                    line.invoice_discount,
                    line.net_amount,
                ]
                for line in self.lines
            ],
            "invoice_discounts": [[d.promotion_code, d.amount] for d in self.invoice_discounts],
            "vat_groups": [[g.tax.value, g.base, g.vat] for g in self.vat_groups],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Quote:
        """Reads a :meth:`to_dict` snapshot back; ``ValueError`` if it is malformed or its
        amounts do not add up."""
        if _int(data.get("v")) != _SNAPSHOT_VERSION:
            raise ValueError(f"quote snapshot: unsupported version {data.get('v')!r}")
        try:
            lines = tuple(_line_from_list(_list(row, 11)) for row in _list(data.get("lines")))
            discounts = tuple(
                InvoiceDiscount(_str(r[0]), _int(r[1]))
                for r in (_list(row, 2) for row in _list(data.get("invoice_discounts")))
            )
            groups = tuple(
                VatGroup(TaxCategory(_str(r[0])), _int(r[1]), _int(r[2]))
                for r in (_list(row, 3) for row in _list(data.get("vat_groups")))
            )
        except (KeyError, IndexError) as exc:
            raise ValueError(f"quote snapshot: malformed ({exc})") from exc
        return cls(lines=lines, invoice_discounts=discounts, vat_groups=groups)


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"quote snapshot: expected an integer, got {value!r}")
    return value


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"quote snapshot: expected a string, got {value!r}")
    return value


def _list(value: object, length: int | None = None) -> list[object]:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        raise ValueError(f"quote snapshot: expected a list, got {value!r}")
    return value


def _line_from_list(row: list[object]) -> QuoteLine:
    promotion = _str(row[7])
    return QuoteLine(
        kind=LineKind(_str(row[0])),
        code=_str(row[1]),
        name=_str(row[2]),
        tax=TaxCategory(_str(row[3])),
        quantity=_int(row[4]),
        unit_price=_int(row[5]),
        base_amount=_int(row[6]),
        promotion_code=promotion or None,
        line_discount=_int(row[8]),
        invoice_discount=_int(row[9]),
        net_amount=_int(row[10]),
    )


def _round(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def _round_ratio(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half-up, exactly; both ≥ 0, denominator > 0."""
    return (2 * numerator + denominator) // (2 * denominator)


# --- promotions -----------------------------------------------------------------------------


def check_promotion(
    promo: Promotion,
    *,
    scope: PromotionScope,
    target_code: str | None,
    amount: int | Decimal,
    today: date,
    usage: PromotionUsage,
    purchase: Purchase = Purchase.NEW,
) -> None:
    """Raises :class:`PromotionNotApplicable` when ``promo`` cannot be used; the reason is the
    first failing check, in the order of :class:`PromotionRefusal`. ``purchase`` is what is
    bought (a renewal takes only the promotions whose ``purchases`` list it).

    ``target_code`` is the plan code (plan scope), the add-on code (add-on scope) or the plan
    code of the invoice (invoice scope: ``applies_to`` of an invoice promotion lists the plans
    whose invoices it may discount). ``amount`` is the line amount before any discount (plan,
    add-on) or the subtotal after line discounts (invoice); ``min_amount`` is compared with it.
    ``today`` is the Asia/Ho_Chi_Minh date; ``starts`` and ``ends`` are inclusive.
    """
    reason: PromotionRefusal | None = None
    if not promo.active:
        reason = PromotionRefusal.INACTIVE
    elif promo.scope is not scope:
        reason = PromotionRefusal.WRONG_SCOPE
    elif purchase not in promo.purchases:
        reason = PromotionRefusal.NOT_FOR_PURCHASE
    elif promo.applies_to is not None and target_code not in promo.applies_to:
        reason = PromotionRefusal.NOT_FOR_TARGET
    elif promo.starts is not None and today < promo.starts:
        reason = PromotionRefusal.NOT_STARTED
    elif promo.ends is not None and today > promo.ends:
        reason = PromotionRefusal.EXPIRED
    elif amount < promo.min_amount:
        reason = PromotionRefusal.BELOW_MINIMUM
    elif promo.quota is not None and usage.total_uses(promo.code) >= promo.quota:
        reason = PromotionRefusal.QUOTA_EXHAUSTED
    elif promo.per_customer is not None and usage.customer_uses(promo.code) >= promo.per_customer:
        reason = PromotionRefusal.CUSTOMER_LIMIT_REACHED
    if reason is not None:
        raise PromotionNotApplicable(promo.code, reason.value)


def eligible_promotions(
    catalog: Catalog,
    scope: PromotionScope,
    target_code: str | None,
    amount: int | Decimal,
    today: date,
    usage: PromotionUsage,
    purchase: Purchase = Purchase.NEW,
) -> list[Promotion]:
    """The active promotions of ``scope`` that :func:`check_promotion` accepts, by code;
    promotions with a coupon code are never listed (the customer types the code: see
    :func:`find_coupon`)."""
    eligible: list[Promotion] = []
    for promo in catalog.active_promotions(scope):
        if promo.coupon_code:
            continue
        try:
            check_promotion(
                promo,
                scope=scope,
                target_code=target_code,
                amount=amount,
                today=today,
                usage=usage,
                purchase=purchase,
            )
        except PromotionNotApplicable:
            continue
        eligible.append(promo)
    return sorted(eligible, key=lambda p: p.code)


#: the ``reason`` of :class:`PromotionNotApplicable` for a typed coupon code no active
#: promotion has (the other reasons are :class:`PromotionRefusal`'s)
UNKNOWN_COUPON = "unknown_coupon"


def find_coupon(
    catalog: Catalog,
    typed: str,
    *,
    scope: PromotionScope,
    target_code: str | None,
    amount: int | Decimal,
    today: date,
    usage: PromotionUsage,
    purchase: Purchase = Purchase.NEW,
) -> Promotion:
    """The promotion whose coupon code the customer typed (case-insensitive), if it may be
    used here: the same rule as a listed promotion (:func:`check_promotion`: scope, plan or
    add-on, window, minimum, quota, uses per customer). Raises :class:`PromotionNotApplicable`
    with :data:`UNKNOWN_COUPON` when no active promotion has the code, else with the first
    failing check's reason."""
    promo = catalog.coupon(typed)
    if promo is None or not promo.active:
        raise PromotionNotApplicable(typed.strip(), UNKNOWN_COUPON)
    check_promotion(
        promo,
        scope=scope,
        target_code=target_code,
        amount=amount,
        today=today,
        usage=usage,
        purchase=purchase,
    )
    return promo


def counted_promotion_codes(catalog: Catalog) -> tuple[str, ...]:
    """The active promotions whose uses :func:`check_promotion` counts (those with a quota or a
    per-customer limit): only their usage has to be read before offering promotions."""
    return tuple(p.code for p in catalog.active_promotions() if p.quota or p.per_customer)


@dataclass(frozen=True, slots=True)
class CheckoutOffer:
    """What a business may buy today: the promotions it may use (the eligibility rule is
    :func:`check_promotion`, with its uses counted in ``usage``) and the quote of a selection."""

    catalog: Catalog
    today: date
    usage: PromotionUsage = NO_USAGE
    purchase: Purchase = Purchase.NEW

    def promotions(
        self, scope: PromotionScope, target_code: str | None, amount: int | Decimal
    ) -> list[Promotion]:
        """The promotions of ``scope`` this business may use on ``amount`` today."""
        return eligible_promotions(
            self.catalog, scope, target_code, amount, self.today, self.usage, self.purchase
        )

    def coupon(
        self, typed: str, scope: PromotionScope, target_code: str | None, amount: int | Decimal
    ) -> Promotion:
        """The promotion of the typed coupon code, if this business may use it on ``amount``
        today (see :func:`find_coupon`)."""
        return find_coupon(
            self.catalog,
            typed,
            scope=scope,
            target_code=target_code,
            amount=amount,
            today=self.today,
            usage=self.usage,
            purchase=self.purchase,
        )

    def quote(self, selection: Selection) -> Quote:
        return quote(
            self.catalog, selection, today=self.today, usage=self.usage, purchase=self.purchase
        )


def promotion_discount(promo: Promotion, amount: int | Decimal) -> Decimal:
    """The exact (unrounded) discount ``promo`` gives on ``amount``: a percent capped by
    ``max_discount``, or the fixed amount; never below 0 nor above ``amount``."""
    with localcontext(_EXACT):
        base = Decimal(amount)
        if base <= 0:
            return Decimal(0)
        if promo.percent is not None:
            discount = base * promo.percent / _HUNDRED
            if promo.max_discount is not None:
                discount = min(discount, Decimal(promo.max_discount))
        else:
            discount = Decimal(promo.amount or 0)
        return max(Decimal(0), min(discount, base))


# --- line amounts ---------------------------------------------------------------------------


def _tiers(plan: Plan, cycle: BillingCycle) -> list[tuple[int | None, int]]:
    if not cycle.tiers:
        raise CatalogInvalid(
            [(f"{plan.code}.cycles[{cycle.code}].tiers", f"required with pricing {plan.pricing}")]
        )
    return sorted(
        ((t.up_to, t.price) for t in cycle.tiers),
        key=lambda t: (t[0] is None, t[0] or 0),
    )


def _plan_pricing(plan: Plan, cycle: BillingCycle, quantity: int) -> tuple[int, int]:
    """``(unit_price, base_amount)`` of the plan line."""
    if cycle.price < 0 or any(t.price < 0 for t in cycle.tiers):
        raise CatalogInvalid([(f"{plan.code}.cycles[{cycle.code}]", "prices must be ≥ 0")])
    if quantity < 1:
        raise InvalidInput(field="quantity", reason="below_minimum", minimum=1, value=quantity)
    strategy = plan.pricing
    if strategy is PricingStrategy.FLAT:
        if quantity != 1:
            raise InvalidInput(field="quantity", reason="fixed", value=quantity)
        return cycle.price, cycle.price
    if strategy is PricingStrategy.UNIT:
        return cycle.price, cycle.price * quantity
    tiers = _tiers(plan, cycle)
    lower = 0
    graduated = 0
    for up_to, price in tiers:
        if up_to is None or quantity <= up_to:
            if strategy is PricingStrategy.TIER:
                return price, graduated + (quantity - lower) * price
            if strategy is PricingStrategy.VOLUME:
                return price, price * quantity
            return price, price
        graduated += (up_to - lower) * price
        lower = up_to
    raise InvalidInput(field="quantity", reason="above_maximum", maximum=lower, value=quantity)


def line_base_amount(plan: Plan, cycle: BillingCycle, quantity: int) -> int:
    """The plan line's amount for ``quantity`` on ``cycle``, before promotions and without the
    setup fee (a line of its own).

    flat: the cycle price (quantity must be 1); unit: price × quantity; tier (graduated): each
    unit at the price of the tier it falls in; volume: every unit at the price of the tier the
    quantity reaches; stairstep: that tier's price as a flat amount. Raises ``InvalidInput``
    (``field="quantity"``, reason ``below_minimum``, ``fixed`` or ``above_maximum``).
    """
    return _plan_pricing(plan, cycle, quantity)[1]


def addon_base_amount(addon: Addon, cycle: BillingCycle) -> int:
    """An add-on's amount with a plan billed on ``cycle``: its price (once), or its price per
    unit × :func:`periodic_units` rounded half-up to whole đồng (periodic)."""
    if addon.price < 0:
        raise CatalogInvalid([(f"addons[{addon.code}].price", "must be ≥ 0")])
    if addon.type is AddonType.ONCE:
        return addon.price
    if addon.unit is None:
        raise CatalogInvalid([(f"addons[{addon.code}].unit", "required with type periodic")])
    units = periodic_units(cycle, addon.unit)
    return _round_ratio(addon.price * units.numerator, units.denominator)


# --- quote ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Draft:
    kind: LineKind
    code: str
    name: str
    tax: TaxCategory
    quantity: int
    unit_price: int
    base: int
    promotion: Promotion | None


def _service(catalog: Catalog, code: str) -> Service:
    service = catalog.service(code)
    if service is None:
        raise NotFound(field="service_code", code=code, reason="unknown")
    if not service.active:
        raise NotFound(field="service_code", code=code, reason="inactive")
    return service


def _plan(service: Service, code: str) -> Plan:
    plan = service.plan(code)
    if plan is None:
        raise NotFound(field="plan_code", code=code, reason="unknown")
    if not plan.active:
        raise NotFound(field="plan_code", code=code, reason="inactive")
    return plan


def _cycle(plan: Plan, code: str) -> BillingCycle:
    cycle = plan.cycle(code)
    if cycle is None:
        raise NotFound(field="cycle_code", code=code, reason="unknown")
    return cycle


def _duplicate(codes: Iterable[str]) -> str | None:
    seen: set[str] = set()
    for code in codes:
        if code in seen:
            return code
        seen.add(code)
    return None


def _addons(service: Service, plan: Plan, selection: Selection) -> list[Addon]:
    """The ticked add-ons, in the plan's order (so the tick order never changes a quote)."""
    dup = _duplicate(selection.addon_codes)
    if dup is not None:
        raise InvalidInput(field="addon_codes", reason="duplicate", code=dup)
    for code in selection.addon_codes:
        addon = service.addon(code)
        if addon is None:
            raise NotFound(field="addon_codes", code=code, reason="unknown")
        if code not in plan.addons:
            raise InvalidInput(field="addon_codes", reason="not_allowed", code=code)
        if not addon.active:
            raise NotFound(field="addon_codes", code=code, reason="inactive")
    ticked = set(selection.addon_codes)
    ordered = [c for c in dict.fromkeys(plan.addons) if c in ticked]
    return [a for a in (service.addon(c) for c in ordered) if a is not None]


def _promotion(
    catalog: Catalog,
    code: str,
    *,
    field_name: str,
    scope: PromotionScope,
    target_code: str,
    amount: int,
    today: date,
    usage: PromotionUsage,
    purchase: Purchase = Purchase.NEW,
) -> Promotion:
    promo = catalog.promotion(code)
    if promo is None:
        raise NotFound(field=field_name, code=code, reason="unknown")
    check_promotion(
        promo,
        scope=scope,
        target_code=target_code,
        amount=amount,
        today=today,
        usage=usage,
        purchase=purchase,
    )
    return promo


def _spread(amounts: Sequence[int], total: int) -> list[int]:
    """Splits ``total`` (0 ≤ total ≤ sum(amounts)) over ``amounts`` pro rata: each part is its
    exact share rounded half-up; the leftover goes to the largest amount (first on a tie), then
    to the next largest ones, keeping every part within ``[0, amount]``."""
    whole = sum(amounts)
    if whole == 0:
        return [0 for _ in amounts]
    parts = [_round_ratio(a * total, whole) for a in amounts]
    leftover = total - sum(parts)
    for i in sorted(range(len(amounts)), key=lambda i: (-amounts[i], i)):
        if leftover == 0:
            break
        room = amounts[i] - parts[i] if leftover > 0 else -parts[i]
        step = min(room, leftover) if leftover > 0 else max(room, leftover)
        parts[i] += step
        leftover -= step
    return parts


def _vat_groups(lines: Sequence[tuple[TaxCategory, int]]) -> tuple[VatGroup, ...]:
    bases: dict[TaxCategory, int] = {}
    for tax, net in lines:
        bases[tax] = bases.get(tax, 0) + net
    with localcontext(_EXACT):
        return tuple(
            VatGroup(tax, bases[tax], _round(Decimal(bases[tax]) * tax.rate))
            for tax in TaxCategory
            if tax in bases
        )


def quote(
    catalog: Catalog,
    selection: Selection,
    *,
    today: date,
    usage: PromotionUsage,
    purchase: Purchase = Purchase.NEW,
) -> Quote:
    """Prices ``selection`` on ``today`` (Asia/Ho_Chi_Minh date) as described in the module
    docstring. Lines: the plan, its setup fee (if any), then the ticked add-ons in the plan's
    order. A renewal (``purchase``) has no setup line and takes only renewal promotions.

    Raises ``NotFound`` (``field`` = ``service_code``, ``plan_code``, ``cycle_code``,
    ``addon_codes``, ``plan_promotion``, ``addon_promotions`` or ``invoice_promotions``;
    ``reason`` ``unknown`` or ``inactive``), ``InvalidInput`` (``quantity``: ``below_minimum``,
    ``fixed``, ``above_maximum``; ``addon_codes``: ``duplicate``, ``not_allowed``;
    ``addon_promotions``: ``addon_not_selected``, ``duplicate``; ``invoice_promotions``:
    ``duplicate``) or ``PromotionNotApplicable`` for a promotion that cannot be used.
    """
    service = _service(catalog, selection.service_code)
    plan = _plan(service, selection.plan_code)
    cycle = _cycle(plan, selection.cycle_code)
    unit_price, plan_base = _plan_pricing(plan, cycle, selection.quantity)
    addons = _addons(service, plan, selection)

    dup = _duplicate(a for a, _ in selection.addon_promotions)
    if dup is not None:
        raise InvalidInput(field="addon_promotions", reason="duplicate", code=dup)
    for addon_code, _ in selection.addon_promotions:
        if addon_code not in selection.addon_codes:
            raise InvalidInput(
                field="addon_promotions", reason="addon_not_selected", code=addon_code
            )
    dup = _duplicate(selection.invoice_promotions)
    if dup is not None:
        raise InvalidInput(field="invoice_promotions", reason="duplicate", code=dup)

    def promo(
        code: str | None, field_name: str, scope: PromotionScope, target: str, base: int
    ) -> Promotion | None:
        if code is None:
            return None
        return _promotion(
            catalog,
            code,
            field_name=field_name,
            scope=scope,
            target_code=target,
            amount=base,
            today=today,
            usage=usage,
            purchase=purchase,
        )

    drafts = [
        _Draft(
            LineKind.PLAN,
            plan.code,
            plan.name,
            plan.tax,
            selection.quantity,
            unit_price,
            plan_base,
            promo(
                selection.plan_promotion,
                "plan_promotion",
                PromotionScope.PLAN,
                plan.code,
                plan_base,
            ),
        )
    ]
    if plan.setup_fee and purchase is Purchase.NEW:
        if plan.setup_fee < 0:
            raise CatalogInvalid([(f"{plan.code}.setup_fee", "must be ≥ 0")])
        drafts.append(
            _Draft(
                LineKind.SETUP,
                plan.code,
                plan.name,
                plan.tax,
                1,
                plan.setup_fee,
                plan.setup_fee,
                None,
            )
        )
    for addon in addons:
        base = addon_base_amount(addon, cycle)
        drafts.append(
            _Draft(
                LineKind.ADDON,
                addon.code,
                addon.name,
                addon.tax,
                1,
                addon.price,
                base,
                promo(
                    selection.addon_promotion(addon.code),
                    "addon_promotions",
                    PromotionScope.ADDON,
                    addon.code,
                    base,
                ),
            )
        )

    with localcontext(_EXACT):
        after_line = [
            d.base
            if d.promotion is None
            else _round(d.base - promotion_discount(d.promotion, d.base))
            for d in drafts
        ]
        discounted_subtotal = sum(after_line)
        invoice_promos = [
            _promotion(
                catalog,
                code,
                field_name="invoice_promotions",
                scope=PromotionScope.INVOICE,
                target_code=plan.code,
                amount=discounted_subtotal,
                today=today,
                usage=usage,
                purchase=purchase,
            )
            for code in selection.invoice_promotions
        ]
        running = Decimal(discounted_subtotal)
        shown = discounted_subtotal
        invoice_discounts: list[InvoiceDiscount] = []
        for p in invoice_promos:
            running -= promotion_discount(p, running)
            rounded = _round(running)
            invoice_discounts.append(InvoiceDiscount(p.code, shown - rounded))
            shown = rounded
    nets = _spread(after_line, shown)

    lines = tuple(
        QuoteLine(
            kind=d.kind,
            code=d.code,
            name=d.name,
            tax=d.tax,
            quantity=d.quantity,
            unit_price=d.unit_price,
            base_amount=d.base,
            promotion_code=None if d.promotion is None else d.promotion.code,
            line_discount=d.base - after,
            invoice_discount=after - net,
            net_amount=net,
        )
        for d, after, net in zip(drafts, after_line, nets, strict=True)
    )
    return Quote(
        lines=lines,
        invoice_discounts=tuple(invoice_discounts),
        vat_groups=_vat_groups([(line.tax, line.net_amount) for line in lines]),
    )
