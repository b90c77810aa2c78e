"""What an order becomes: its subscription and its invoice, derived from the order and its
frozen quote in one place, so registration (OS, waiting for cash) and payment (ON, paid) build
them the same way."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.model import Invoice, Order, Subscription
from domain.pricing import Quote


def subscription_for(order: Order, code: str, created_at: datetime, **fields: Any) -> Subscription:
    """A subscription for ``order``; ``fields`` set the status, progress and period."""
    return Subscription(
        code=code,
        order_id=order.id,
        enterprise_id=order.enterprise_id,
        service_code=order.service_code,
        plan_code=order.plan_code,
        cycle_code=order.cycle_code,
        kind=order.kind,
        registered_by=order.registered_by,
        created_at=created_at,
        quantity=order.quantity,
        addon_codes=order.addon_codes,
        **fields,
    )


def invoice_for(order: Order, quote: Quote, created_at: datetime, **fields: Any) -> Invoice:
    """An invoice whose amounts are the order's frozen quote; ``fields`` set the status, the
    subscription and the payment details."""
    return Invoice(
        order_id=order.id,
        enterprise_id=order.enterprise_id,
        payment_method=order.payment_method,
        subtotal=quote.subtotal,
        discount_total=quote.line_discount_total + quote.invoice_discount_total,
        vat_total=quote.vat_total,
        total=quote.total,
        created_at=created_at,
        lines=quote.to_dict(),
        **fields,
    )
