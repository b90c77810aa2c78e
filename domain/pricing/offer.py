"""What a business may buy today: :class:`CheckoutOffer`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from domain.catalog import Catalog, Promotion, PromotionScope, Purchase
from domain.pricing.model import NO_USAGE, PromotionUsage, Quote, Selection
from domain.pricing.promotions import eligible_promotions, find_coupon
from domain.pricing.quoting import quote


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
