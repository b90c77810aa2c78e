"""Line amounts before promotions (rule 1 of :mod:`domain.pricing`): the plan line by its
cycle's pricing strategy, and add-ons.
"""

from __future__ import annotations

from domain.billing import periodic_units
from domain.catalog import Addon, AddonType, BillingCycle, Plan, PricingStrategy
from domain.errors import CatalogInvalid, InvalidInput
from domain.pricing.model import _round_ratio


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
