"""Which promotions apply to a selection, coupon codes, and a promotion's discount on an
amount (rules 2 and 3 of :mod:`domain.pricing`).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, localcontext

from domain.catalog import Catalog, Promotion, PromotionScope, Purchase
from domain.errors import PromotionNotApplicable
from domain.pricing.model import _EXACT, _HUNDRED, PromotionRefusal, PromotionUsage


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
