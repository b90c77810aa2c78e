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

from domain.pricing.amounts import addon_base_amount, line_base_amount
from domain.pricing.model import (
    NO_USAGE,
    InvoiceDiscount,
    LineKind,
    PromotionRefusal,
    PromotionUsage,
    Quote,
    QuoteLine,
    Selection,
    VatGroup,
)
from domain.pricing.offer import CheckoutOffer
from domain.pricing.promotions import (
    UNKNOWN_COUPON,
    check_promotion,
    counted_promotion_codes,
    eligible_promotions,
    find_coupon,
    promotion_discount,
)
from domain.pricing.quoting import quote

__all__ = [
    "NO_USAGE",
    "UNKNOWN_COUPON",
    "CheckoutOffer",
    "InvoiceDiscount",
    "LineKind",
    "PromotionRefusal",
    "PromotionUsage",
    "Quote",
    "QuoteLine",
    "Selection",
    "VatGroup",
    "addon_base_amount",
    "check_promotion",
    "counted_promotion_codes",
    "eligible_promotions",
    "find_coupon",
    "line_base_amount",
    "promotion_discount",
    "quote",
]
